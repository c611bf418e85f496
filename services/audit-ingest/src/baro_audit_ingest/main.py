"""Wiring: the event store, the relay, the registration consumer and the HTTP API.

`baro-audit-ingest serve` runs all of them; `relay` runs only the relay; `import` loads a
JSON-lines file of probes over HTTP; `generate` writes a realistic campaign for an edition.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from baro_audit_ingest.api import install_domain_errors, router
from baro_audit_ingest.application import AuditApplication
from baro_audit_ingest.consumers import start_consumer
from baro_audit_ingest.translation import AuditTranslator
from baro_audit_ingest.writer import ProbeWriter
from baro_chassis.http import create_service_app
from baro_chassis.postgres import ensure_database, eventsourcing_env
from baro_chassis.relay import Relay
from baro_chassis.service import Clock, relay_for, run_relay_only, utc_now
from baro_chassis.settings import SERVICE_PORTS, Settings
from baro_contracts.streams import AUDIT_STREAM

SERVICE = "audit-ingest"


def build_application(settings: Settings, clock: Clock = utc_now) -> AuditApplication:
    ensure_database(settings.database_url)
    return AuditApplication(env=eventsourcing_env(settings.database_url), clock=clock)


def build_relay(settings: Settings, application: AuditApplication) -> Relay:
    return relay_for(settings, application, AuditTranslator, AUDIT_STREAM)


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
        app.state.application = application
        app.state.writer = writer = ProbeWriter(application)
        writer.start()
        stop = asyncio.Event()
        relay_task = (
            asyncio.create_task(build_relay(settings, application).run(stop)) if run_relay else None
        )
        consumer = await start_consumer(application, settings.nats_url) if run_consumer else None
        try:
            yield
        finally:
            stop.set()
            if consumer is not None:
                await consumer.stop()
            if relay_task is not None:
                await relay_task
            await asyncio.to_thread(writer.stop)
            application.close()

    app = create_service_app(
        settings,
        title="Barometer — audit-ingest",
        description="Referentials, audit plans, and the mystery citizens' probes with their "
        "corrections (probes are immutable: a correction is a new event).",
        lifespan=lifespan,
    )
    install_domain_errors(app)
    app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """The app each `serve` worker process builds (uvicorn imports it by name)."""
    relay = os.environ.get("AUDIT_INGEST_RELAY", "1") != "0"
    return create_app(Settings.from_env(SERVICE), run_relay=relay)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="baro-audit-ingest")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API, the relay and the consumer")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=SERVICE_PORTS[SERVICE])
    serve.add_argument("--no-relay", action="store_true", help="serve without the relay")
    sub.add_parser("relay", help="run the relay only")
    from baro_audit_ingest import campaign

    campaign.add_commands(sub)
    args = parser.parse_args()
    if args.command == "relay":
        asyncio.run(run_relay_only(Settings.from_env(SERVICE), build_application, build_relay))
        return
    if args.command == "serve":
        if args.no_relay:
            os.environ["AUDIT_INGEST_RELAY"] = "0"
        uvicorn.run(
            "baro_audit_ingest.main:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            log_level="warning",
        )
        return
    sys.exit(campaign.run_command(args))
