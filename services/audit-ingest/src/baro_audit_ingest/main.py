"""Wiring: the event store, the relay, the registration consumer and the HTTP API.

`baro-audit-ingest serve` runs all of them; `relay` runs only the relay; `import` loads a
JSON-lines file of probes over HTTP; `generate` writes a realistic campaign for an edition.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from baro_audit_ingest.api import LARGER_BODIES, install_domain_errors, router
from baro_audit_ingest.application import AuditApplication
from baro_audit_ingest.consumers import start_consumer
from baro_audit_ingest.recording import (
    LocalRecorder,
    RemoteRecorder,
    answer_probe_requests,
    stop_when_told_or_orphaned,
)
from baro_audit_ingest.translation import AuditTranslator
from baro_audit_ingest.writer import ProbeWriter
from baro_chassis.http import create_service_app, settle_heap
from baro_chassis.nats import connect
from baro_chassis.postgres import open_application
from baro_chassis.relay import Relay
from baro_chassis.service import Clock, add_serve_and_relay, relay_for, run_relay_only, utc_now
from baro_chassis.settings import Settings
from baro_contracts.streams import AUDIT_STREAM

SERVICE = "audit-ingest"


def build_application(settings: Settings, clock: Clock = utc_now) -> AuditApplication:
    return open_application(AuditApplication, settings.database_url, clock=clock)


def build_relay(settings: Settings, application: AuditApplication) -> Relay:
    return relay_for(settings, application, AuditTranslator, AUDIT_STREAM)


@contextlib.asynccontextmanager
async def recording_side(
    settings: Settings, application: AuditApplication, *, run_relay: bool, run_consumer: bool
) -> AsyncIterator[ProbeWriter]:
    """What records probes and publishes events: the probe writer, the relay and the
    registration consumer, in the API's process or in the probe writer process."""
    writer = ProbeWriter(application)
    writer.start()
    stop = asyncio.Event()
    relay_task = (
        asyncio.create_task(build_relay(settings, application).run(stop)) if run_relay else None
    )
    consumer = await start_consumer(application, settings.nats_url) if run_consumer else None
    try:
        yield writer
    finally:
        stop.set()
        if consumer is not None:
            await consumer.stop()
        if relay_task is not None:
            await relay_task
        await asyncio.to_thread(writer.stop)


def create_app(
    settings: Settings | None = None,
    *,
    run_relay: bool = True,
    run_consumer: bool = True,
    clock: Clock = utc_now,
    remote_writer: bool = False,
) -> FastAPI:
    """The API. With `remote_writer`, probes go to the probe writer process (which also runs
    the relay and the consumer); otherwise this process records them itself."""
    settings = settings or Settings.from_env(SERVICE)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        application = await asyncio.to_thread(build_application, settings, clock)
        app.state.application = application
        if remote_writer:
            nc = await connect(settings.nats_url, "audit-ingest-api")
            recorder = RemoteRecorder(nc)
            await recorder.wait_ready()
            app.state.recorder = recorder
            try:
                yield
            finally:
                await nc.drain()
                application.close()
            return
        try:
            async with recording_side(
                settings, application, run_relay=run_relay, run_consumer=run_consumer
            ) as writer:
                app.state.recorder = LocalRecorder(writer)
                yield
        finally:
            application.close()

    app = create_service_app(
        settings,
        title="Barometer — audit-ingest",
        description="Referentials, audit plans, and the mystery citizens' probes with their "
        "corrections (probes are immutable: a correction is a new event).",
        lifespan=lifespan,
        larger_bodies=LARGER_BODIES,
    )
    install_domain_errors(app)
    app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """The API `serve` runs (uvicorn imports it by name), its probe writer in a child process."""
    return create_app(Settings.from_env(SERVICE), remote_writer=True)


async def run_writer(settings: Settings, *, run_relay: bool = True) -> None:
    """`baro-audit-ingest writer`: records probes sent by the API, runs the relay and the
    registration consumer; stops on SIGINT/SIGTERM or when its parent `serve` is gone."""
    application = await asyncio.to_thread(build_application, settings)
    stop = asyncio.Event()
    watcher = asyncio.create_task(stop_when_told_or_orphaned(stop))
    try:
        async with recording_side(
            settings, application, run_relay=run_relay, run_consumer=True
        ) as writer:
            settle_heap()
            await answer_probe_requests(writer, settings.nats_url, stop)
    finally:
        stop.set()
        await watcher
        application.close()


def _stop_if_writer_dies(writer: subprocess.Popen[bytes], stopping: threading.Event) -> None:
    """A writer that died means no probe can be recorded: stop the API too, so whatever
    supervises `serve` (`baro up`, the orchestrator) sees it and restarts or reports it."""
    code = writer.wait()
    if not stopping.is_set():
        logging.getLogger(__name__).error("the probe writer exited (code %s): stopping", code)
        os.kill(os.getpid(), signal.SIGTERM)


def _raise_system_exit(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


def serve(host: str, port: int, *, single_process: bool, run_relay: bool, workers: int = 1) -> None:
    if single_process:
        app = create_app(Settings.from_env(SERVICE), run_relay=run_relay)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    command = [sys.executable, "-m", "baro_audit_ingest.main", "writer"]
    if not run_relay:
        command.append("--no-relay")
    writer = subprocess.Popen(command)
    # uvicorn re-raises SIGTERM once it has shut down; as an exception, it lets the `finally`
    # below stop the writer process (the default action would end this process first).
    signal.signal(signal.SIGTERM, _raise_system_exit)
    stopping = threading.Event()
    threading.Thread(target=_stop_if_writer_dies, args=(writer, stopping), daemon=True).start()
    try:
        uvicorn.run(
            "baro_audit_ingest.main:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
    finally:
        stopping.set()
        writer.terminate()
        try:
            writer.wait(30)
        except subprocess.TimeoutExpired:
            writer.kill()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="baro-audit-ingest")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = add_serve_and_relay(
        sub, SERVICE, "run the HTTP API, and the probe writer, relay and consumer beside it"
    )
    serve_cmd.add_argument(
        "--single-process", action="store_true", help="record probes in the API's process"
    )
    serve_cmd.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("AUDIT_INGEST_API_WORKERS", "1")),
        help="API processes (they share the one probe writer process)",
    )
    writer_cmd = sub.add_parser("writer", help="run the probe writer, relay and consumer only")
    writer_cmd.add_argument("--no-relay", action="store_true")
    from baro_audit_ingest import campaign

    campaign.add_commands(sub)
    args = parser.parse_args()
    if args.command == "relay":
        asyncio.run(run_relay_only(Settings.from_env(SERVICE), build_application, build_relay))
        return
    if args.command == "writer":
        asyncio.run(run_writer(Settings.from_env(SERVICE), run_relay=not args.no_relay))
        return
    if args.command == "serve":
        serve(
            args.host,
            args.port,
            single_process=args.single_process,
            run_relay=not args.no_relay,
            workers=args.workers,
        )
        return
    sys.exit(campaign.run_command(args))


if __name__ == "__main__":
    cli()
