"""Wiring: the event store, the relay, the registration consumer and the HTTP API.

`baro-audit-ingest serve` runs all of them; `relay` runs only the relay; `import` loads a
JSON-lines file of probes over HTTP; `generate` writes a realistic campaign for an edition.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

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
from baro_chassis.embedded import stop_process
from baro_chassis.http import create_service_app, settle_heap
from baro_chassis.logs import configure_logging
from baro_chassis.nats import connect
from baro_chassis.postgres import open_application
from baro_chassis.processes import die_with_parent, die_with_parent_now
from baro_chassis.readiness import (
    Check,
    PartReadiness,
    add_check,
    brokers_check,
    nats_check,
    relay_check,
)
from baro_chassis.relay import Relay
from baro_chassis.resilience import Backoff
from baro_chassis.service import (
    Clock,
    add_serve_and_relay,
    check_database,
    relay_for,
    run_relay_only,
    utc_now,
)
from baro_chassis.serving import serve_app
from baro_chassis.settings import Settings
from baro_contracts.streams import AUDIT_STREAM

SERVICE = "audit-ingest"
WRITER_READY_SUBJECT = "audit-ingest.internal.writer-ready"
# A writer that ran this long before dying is started again at once (its backoff reset).
WRITER_STABLE_AFTER_SECONDS = 60.0


def build_application(settings: Settings, clock: Clock = utc_now) -> AuditApplication:
    return open_application(AuditApplication, settings.database_url, clock=clock)


def build_relay(settings: Settings, application: AuditApplication) -> Relay:
    return relay_for(settings, application, AuditTranslator, AUDIT_STREAM)


@dataclass
class RecordingSide:
    writer: ProbeWriter
    checks: dict[str, Check]  # for `/ready`: the relay and the consumer, when run here


@contextlib.asynccontextmanager
async def recording_side(
    settings: Settings, application: AuditApplication, *, run_relay: bool, run_consumer: bool
) -> AsyncIterator[RecordingSide]:
    """What records probes and publishes events: the probe writer, the relay and the
    registration consumer, in the API's process or in the probe writer process."""
    writer = ProbeWriter(application)
    writer.start()
    stop = asyncio.Event()
    checks: dict[str, Check] = {}
    relay_task = None
    if run_relay:
        relay = build_relay(settings, application)
        relay_task = asyncio.create_task(relay.run(stop), name="relay audit-ingest")
        checks["relay"] = relay_check(relay, relay_task)
    consumer = await start_consumer(application, settings.nats_url) if run_consumer else None
    if consumer is not None:
        checks["consumers"] = brokers_check(lambda: [consumer])
    try:
        yield RecordingSide(writer, checks)
    finally:
        stop.set()
        if consumer is not None:
            await consumer.stop()
        if relay_task is not None:
            await relay_task
        await asyncio.to_thread(writer.stop)


async def answer_readiness(nc: Client, checks: dict[str, Check]) -> None:
    """The probe writer process says how its parts are, for the API's `/ready`."""

    async def on_request(msg: Msg) -> None:
        parts = {part: (await check()).model_dump() for part, check in checks.items()}
        await msg.respond(json.dumps(parts).encode())

    await nc.subscribe(WRITER_READY_SUBJECT, cb=on_request)


def writer_check(nc: Client) -> Check:
    """The probe writer process answers, and its relay and consumer are ready."""

    async def check() -> PartReadiness:
        try:
            reply = await nc.request(WRITER_READY_SUBJECT, b"", timeout=1.0)
        except (NoRespondersError, NatsTimeout):
            return PartReadiness(ready=False, detail="the probe writer process does not answer")
        parts = {k: PartReadiness.model_validate(v) for k, v in json.loads(reply.data).items()}
        detail = "; ".join(f"{part}: {p.detail}" for part, p in parts.items())
        return PartReadiness(ready=all(p.ready for p in parts.values()), detail=detail)

    return check


def create_app(
    settings: Settings | None = None,
    *,
    run_relay: bool = True,
    run_consumer: bool = True,
    clock: Clock = utc_now,
    remote_writer: bool = False,
    wait_for_writer: bool = True,
) -> FastAPI:
    """The API. With `remote_writer`, probes go to the probe writer process (which also runs
    the relay and the consumer; started with the API, it is waited for unless
    `wait_for_writer` is False: run apart, probes are answered 503 until one answers);
    otherwise this process records them itself."""
    settings = settings or Settings.from_env(SERVICE)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        application = await asyncio.to_thread(build_application, settings, clock)
        app.state.application = application
        check_database(app, settings)
        if remote_writer:
            nc = await connect(settings.nats_url, "audit-ingest-api")
            add_check(app, "nats", nats_check(nc))
            add_check(app, "probe_writer", writer_check(nc))
            recorder = RemoteRecorder(nc)
            if wait_for_writer:
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
            ) as side:
                for part, check in side.checks.items():
                    add_check(app, part, check)
                app.state.recorder = LocalRecorder(side.writer)
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
    """The API `serve` runs (uvicorn imports it by name), its probe writer in a child process.
    With several workers, each is a child of `serve`, and ends with it."""
    die_with_parent_now()
    return create_app(Settings.from_env(SERVICE), remote_writer=True)


def api_only_from_env() -> FastAPI:
    """The API `serve --no-writer` runs: its probe writers run apart, and may start later."""
    die_with_parent_now()
    return create_app(Settings.from_env(SERVICE), remote_writer=True, wait_for_writer=False)


async def run_writer(settings: Settings, *, run_relay: bool = True) -> None:
    """`baro-audit-ingest writer`: records probes sent by the API, runs the relay and the
    registration consumer; stops on SIGINT/SIGTERM or when its parent `serve` is gone."""
    configure_logging(SERVICE)
    application = await asyncio.to_thread(build_application, settings)
    stop = asyncio.Event()
    watcher = asyncio.create_task(stop_when_told_or_orphaned(stop))
    try:
        async with recording_side(
            settings, application, run_relay=run_relay, run_consumer=True
        ) as side:
            nc = await connect(settings.nats_url, "audit-ingest-writer-readiness")
            try:
                await answer_readiness(nc, side.checks)
                settle_heap()
                await answer_probe_requests(side.writer, settings.nats_url, stop)
            finally:
                await nc.close()
    finally:
        stop.set()
        await watcher
        application.close()


class WriterSupervisor:
    """Runs the probe writer process and starts it again, after a backoff, whenever it dies;
    meanwhile the API answers probes 503 (no writer answers its requests)."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        # Started from this thread, which lives as long as `serve`: PDEATHSIG is tied to it.
        self._thread = threading.Thread(target=self._supervise, daemon=True, name="writer")

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self.stopping.is_set():
                return None
            self.process = subprocess.Popen(self.command, preexec_fn=die_with_parent)
            return self.process

    def _supervise(self) -> None:
        log = logging.getLogger(__name__)
        backoff = Backoff(first=0.5, cap=30.0)
        while (process := self._spawn()) is not None:
            started = time.monotonic()
            code = process.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started > WRITER_STABLE_AFTER_SECONDS:
                backoff.reset()
            delay = backoff.delay()
            log.error("the probe writer exited (code %s): restarting it in %.1fs", code, delay)
            if self.stopping.wait(delay):
                return

    def stop(self) -> None:
        with self._lock:
            self.stopping.set()
            process = self.process
        if process is not None:
            stop_process(process, timeout=30)


def _raise_system_exit(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


def serve(
    host: str,
    port: int,
    *,
    single_process: bool,
    run_relay: bool,
    workers: int = 1,
    with_writer: bool = True,
) -> None:
    """The API; its probe writer in a child process, unless `with_writer` is False (writers
    run as their own processes: `baro-audit-ingest writer`, a Deployment of their own)."""
    if single_process:
        app = create_app(Settings.from_env(SERVICE), run_relay=run_relay)
        serve_app(app, service=SERVICE, host=host, port=port)
        return
    command = [sys.executable, "-m", "baro_audit_ingest.main", "writer"]
    if not run_relay:
        command.append("--no-relay")
    writer = WriterSupervisor(command)
    if with_writer:
        writer.start()
    # A SIGTERM outside the server's own handling (uvicorn's workers supervisor re-raises it
    # once it has shut down) is an exception here, so the `finally` below stops the writer
    # process (the default action would end this process first).
    signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        serve_app(
            f"baro_audit_ingest.main:{'app_from_env' if with_writer else 'api_only_from_env'}",
            service=SERVICE,
            factory=True,
            host=host,
            port=port,
            workers=workers,
        )
    finally:
        writer.stop()


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
    serve_cmd.add_argument(
        "--no-writer",
        action="store_true",
        help="the API only: probes go to probe writers run apart (`baro-audit-ingest writer`)",
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
            with_writer=not args.no_writer,
        )
        return
    sys.exit(campaign.run_command(args))


if __name__ == "__main__":
    cli()
