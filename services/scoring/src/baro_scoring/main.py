"""Wiring: the read model, the consumers, the publication store, its relay and the API.

`baro-scoring serve` runs all of them; `relay` runs only the relay; `replay` rebuilds an
edition's results from the retained streams (see `replay.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from fastapi import FastAPI

from baro_chassis.http import create_service_app
from baro_chassis.nats import connect
from baro_chassis.postgres import open_application
from baro_chassis.readiness import add_check, nats_check, tasks_check
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
from baro_contracts.streams import SCORING_STREAM
from baro_scoring.api import install_domain_errors, router
from baro_scoring.application import ScoringApplication
from baro_scoring.consumers import Consumers
from baro_scoring.documents import keep_published_documents
from baro_scoring.projections import LIVE_SCHEMA, open_pool
from baro_scoring.translation import ScoringTranslator

SERVICE = "scoring"


def build_application(settings: Settings) -> ScoringApplication:
    return open_application(ScoringApplication, settings.database_url)


def build_relay(settings: Settings, application: ScoringApplication) -> Relay:
    return relay_for(settings, application, ScoringTranslator, SCORING_STREAM)


def create_app(
    settings: Settings | None = None,
    *,
    run_relay: bool = True,
    run_consumers: bool = True,
    clock: Clock = utc_now,
) -> FastAPI:
    settings = settings or Settings.from_env(SERVICE)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        application = await asyncio.to_thread(build_application, settings)
        pool = await open_pool(settings.database_url, LIVE_SCHEMA)
        nc = await connect(settings.nats_url, "scoring-api")
        await keep_published_documents(pool, nc.jetstream())
        check_database(app, settings)
        add_check(app, "nats", nats_check(nc))
        stop = asyncio.Event()
        relay = start_relay(app, build_relay(settings, application), stop) if run_relay else None
        consumers = Consumers(pool, settings.nats_url) if run_consumers else None
        if consumers is not None:
            await consumers.start()
            connection = consumers.connection()
            assert connection is not None
            add_check(app, "consumers", tasks_check(connection, consumers.tasks))
        app.state.application = application
        app.state.pool = pool
        app.state.nats = nc
        app.state.clock = clock
        app.state.summaries = {}
        try:
            yield
        finally:
            stop.set()
            if consumers is not None:
                await consumers.stop()
            if relay is not None:
                await relay
            await nc.close()
            await pool.close()
            application.close()

    app = create_service_app(
        settings,
        title="Barometer — scoring",
        description="Determinant, step, channel and global scores, national KPIs, rankings "
        "and laureates, projected from registration and audit events; publication with a "
        "fingerprint; replay of any edition from the retained streams.",
        lifespan=lifespan,
    )
    install_domain_errors(app)
    app.include_router(router)
    return app


def cli() -> None:
    parser = argparse.ArgumentParser(prog="baro-scoring")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_and_relay(sub, SERVICE, "run the API, the consumers and the relay")
    from baro_scoring import replay

    replay.add_command(sub)
    args = parser.parse_args()
    if args.command == "serve":
        app = create_app(Settings.from_env(SERVICE), run_relay=not args.no_relay)
        serve_app(app, service=SERVICE, host=args.host, port=args.port)
    elif args.command == "relay":
        asyncio.run(run_relay_only(Settings.from_env(SERVICE), build_application, build_relay))
    else:
        sys.exit(replay.run_command(args, Settings.from_env(SERVICE)))


if __name__ == "__main__":
    cli()
