"""Wiring: the event store, the relay and the HTTP API of the registration service.

`baro-registration serve` runs the API with its relay; `baro-registration relay` runs only
the relay (one relay is active at a time per service; extra ones wait as standbys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from baro_chassis.http import create_service_app
from baro_chassis.postgres import open_application
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
from baro_contracts.streams import REGISTRATION_STREAM
from baro_registration import contact_routes
from baro_registration.api import install_domain_errors, router
from baro_registration.application import RegistrationApplication
from baro_registration.translation import RegistrationTranslator

SERVICE = "registration"


def build_application(settings: Settings, clock: Clock = utc_now) -> RegistrationApplication:
    return open_application(RegistrationApplication, settings.database_url, clock=clock)


def build_relay(settings: Settings, application: RegistrationApplication) -> Relay:
    return relay_for(settings, application, RegistrationTranslator, REGISTRATION_STREAM)


def create_app(
    settings: Settings | None = None, *, run_relay: bool = True, clock: Clock = utc_now
) -> FastAPI:
    settings = settings or Settings.from_env(SERVICE)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        application = await asyncio.to_thread(build_application, settings, clock)
        app.state.application = application
        check_database(app, settings)
        stop = asyncio.Event()
        relay_task = (
            start_relay(app, build_relay(settings, application), stop) if run_relay else None
        )
        try:
            yield
        finally:
            stop.set()
            if relay_task is not None:
                await relay_task
            application.close()

    app = create_service_app(
        settings,
        title="Barometer — registration",
        description="Editions, structures' registrations, sites, free places and order-form "
        "signatures of the Citizen Experience Barometer.",
        lifespan=lifespan,
    )
    install_domain_errors(app)
    app.include_router(router)
    app.include_router(contact_routes.router)
    return app


def cli() -> None:
    parser = argparse.ArgumentParser(prog="baro-registration")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_and_relay(sub, SERVICE, "run the HTTP API and the relay")
    args = parser.parse_args()
    settings = Settings.from_env(SERVICE)
    if args.command == "relay":
        asyncio.run(run_relay_only(settings, build_application, build_relay))
        return
    serve_app(
        create_app(settings, run_relay=not args.no_relay),
        service=SERVICE,
        host=args.host,
        port=args.port,
    )
