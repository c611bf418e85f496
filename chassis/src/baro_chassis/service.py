"""What every service's wiring does the same way: its relay (started with its readiness
check), and running the relay alone."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import FastAPI

from baro_chassis.eventstore import TracedApplication
from baro_chassis.logs import configure_logging
from baro_chassis.readiness import add_check, database_check, relay_check
from baro_chassis.relay import Relay
from baro_chassis.settings import SERVICE_PORTS, Settings
from baro_chassis.translation import Translator
from baro_contracts.streams import StreamSpec

Clock = Callable[[], datetime]
App = TypeVar("App", bound=TracedApplication)


def utc_now() -> datetime:
    return datetime.now(UTC)


def add_serve_and_relay(sub: Any, service: str, serve_help: str) -> argparse.ArgumentParser:
    """The `serve` (host, port, --no-relay) and `relay` commands every service has; returns
    `serve`'s parser for the service's own options."""
    serve = sub.add_parser("serve", help=serve_help)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=SERVICE_PORTS[service])
    serve.add_argument("--no-relay", action="store_true", help="serve without the relay")
    sub.add_parser("relay", help="run the relay only")
    parser: argparse.ArgumentParser = serve
    return parser


def relay_for(
    settings: Settings,
    application: TracedApplication,
    translator: Callable[[TracedApplication], Translator],
    stream: StreamSpec,
) -> Relay:
    return Relay(
        service=settings.service,
        application=application,
        translate=translator(application),
        stream=stream,
        nats_url=settings.nats_url,
        database_url=settings.database_url,
    )


def start_relay(app: FastAPI, relay: Relay, stop: asyncio.Event) -> asyncio.Task[None]:
    """Run `relay` until `stop`, in a task that `/ready` watches."""
    task = asyncio.create_task(relay.run(stop), name=f"relay {relay.service}")
    add_check(app, "relay", relay_check(relay, task))
    return task


def check_database(app: FastAPI, settings: Settings) -> None:
    """`/ready` asks the service's database whether it answers."""
    add_check(app, "database", database_check(settings.database_url))


async def run_relay_only(
    settings: Settings,
    build_application: Callable[[Settings], App],
    build_relay: Callable[[Settings, App], Relay],
) -> None:
    """`baro-<service> relay`: the relay without the API, until SIGINT or SIGTERM, when it
    ends after the batch in hand."""
    configure_logging(settings.service)
    application = await asyncio.to_thread(build_application, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await build_relay(settings, application).run(stop)
    finally:
        application.close()
