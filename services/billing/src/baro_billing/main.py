"""Wiring: the event store, the registration consumer, the relay and the API.

`baro-billing serve` runs all of them; `relay` runs only the relay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from baro_billing.api import install_domain_errors, router
from baro_billing.application import BillingApplication
from baro_billing.consumers import start_consumer
from baro_billing.translation import BillingTranslator
from baro_chassis.http import create_service_app
from baro_chassis.postgres import open_application
from baro_chassis.readiness import add_check, brokers_check
from baro_chassis.relay import Relay
from baro_chassis.service import (
    Clock,
    add_serve_and_relay,
    check_database,
    relay_for,
    run_relay_only,
    start_relay,
    utc_now,
)
from baro_chassis.serving import serve_app
from baro_chassis.settings import Settings
from baro_contracts.streams import BILLING_STREAM

SERVICE = "billing"


def build_application(settings: Settings, clock: Clock = utc_now) -> BillingApplication:
    return open_application(BillingApplication, settings.database_url, clock=clock)


def build_relay(settings: Settings, application: BillingApplication) -> Relay:
    return relay_for(settings, application, BillingTranslator, BILLING_STREAM)


def create_app(
    settings: Settings | None = None,
    *,
    run_relay: bool = True,
    run_consumer: bool = True,
    clock: Clock = utc_now,
) -> FastAPI:
    settings = settings or Settings.from_env(SERVICE)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        application = await asyncio.to_thread(build_application, settings, clock)
        check_database(app, settings)
        stop = asyncio.Event()
        relay = start_relay(app, build_relay(settings, application), stop) if run_relay else None
        consumer = await start_consumer(application, settings.nats_url) if run_consumer else None
        if consumer is not None:
            add_check(app, "consumers", brokers_check(lambda: [consumer]))
        app.state.application = application
        try:
            yield
        finally:
            stop.set()
            if consumer is not None:
                await consumer.stop()
            if relay is not None:
                await relay
            application.close()

    app = create_service_app(
        settings,
        title="Barometer — billing",
        description="Price lists per edition; quotes drafted from registrations by the price "
        "list's rules; AFNOR finance's adjustments, order forms numbered without gaps (JSON "
        "and PDF), signatures and credit notes.",
        lifespan=lifespan,
    )
    install_domain_errors(app)
    app.include_router(router)
    return app


def cli() -> None:
    parser = argparse.ArgumentParser(prog="baro-billing")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_and_relay(sub, SERVICE, "run the API, the registration consumer and the relay")
    args = parser.parse_args()
    if args.command == "serve":
        app = create_app(Settings.from_env(SERVICE), run_relay=not args.no_relay)
        serve_app(app, service=SERVICE, host=args.host, port=args.port)
    else:
        asyncio.run(run_relay_only(Settings.from_env(SERVICE), build_application, build_relay))


if __name__ == "__main__":
    cli()
