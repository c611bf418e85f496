"""Wiring: the read model, the consumers, the background builds, the relay and the API.

`baro-reporting serve` runs all of them; `relay` only the relay; `build --edition YEAR`
renders an edition's missing reports with a progress bar; `replay --edition YEAR` renders
an edition's reports again from the streams and compares them with those announced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator

from fastapi import FastAPI
from tqdm import tqdm

from baro_chassis.http import create_service_app
from baro_chassis.nats import connect
from baro_chassis.postgres import open_application
from baro_chassis.readiness import add_check, brokers_check, nats_check
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
from baro_contracts.streams import REPORTING_STREAM
from baro_reporting import replay
from baro_reporting.api import install_domain_errors, router
from baro_reporting.application import ReportingApplication
from baro_reporting.autobuild import AutoBuild
from baro_reporting.building import build_edition, render_executor
from baro_reporting.consumers import Consumers
from baro_reporting.domain import NotFound
from baro_reporting.store import open_store
from baro_reporting.translation import ReportingTranslator

SERVICE = "reporting"


def render_workers() -> int:
    """Processes that render PDFs (BARO_REPORTING_WORKERS, default: the CPU count, ≤ 4)."""
    return int(os.environ.get("BARO_REPORTING_WORKERS", min(4, os.cpu_count() or 1)))


def build_application(settings: Settings, clock: Clock = utc_now) -> ReportingApplication:
    return open_application(ReportingApplication, settings.database_url, clock=clock)


def build_relay(settings: Settings, application: ReportingApplication) -> Relay:
    return relay_for(settings, application, ReportingTranslator, REPORTING_STREAM)


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
        application = await asyncio.to_thread(build_application, settings, clock)
        pool = await open_store(settings.database_url)
        nc = await connect(settings.nats_url, "reporting")
        executor = render_executor(render_workers())
        autobuild = AutoBuild(pool, application, executor)
        check_database(app, settings)
        add_check(app, "nats", nats_check(nc))
        stop = asyncio.Event()
        relay = start_relay(app, build_relay(settings, application), stop) if run_relay else None
        consumers = Consumers(pool, nc, settings.nats_url, autobuild.wake)
        if run_consumers:
            await autobuild.start()
            await consumers.start()
            add_check(app, "consumers", brokers_check(lambda: consumers.brokers))
        app.state.application = application
        app.state.pool = pool
        app.state.nats = nc
        app.state.executor = executor
        app.state.autobuild = autobuild
        try:
            yield
        finally:
            stop.set()
            await consumers.stop()
            await autobuild.stop()
            if relay is not None:
                await relay
            executor.shutdown(cancel_futures=True)
            await nc.close()
            await pool.close()
            application.close()

    app = create_service_app(
        settings,
        title="Barometer — reporting",
        description="The national synthesis (PDF, HTML), every structure's report (detailed "
        "or one-page), the exports (CSV, XLSX, open data) and the editorial content, each "
        "made from the published results and naming their fingerprint.",
        lifespan=lifespan,
    )
    install_domain_errors(app)
    app.include_router(router)
    return app


async def run_build(settings: Settings, edition: int, workers: int) -> int:
    """`baro-reporting build`: the edition's missing reports, rendered here."""
    application = await asyncio.to_thread(build_application, settings)
    pool = await open_store(settings.database_url)
    executor = render_executor(workers)
    try:
        with tqdm(desc=f"edition {edition} reports", unit="report", file=sys.stderr) as bar:
            try:
                outcome = await build_edition(
                    pool,
                    application,
                    edition,
                    executor=executor,
                    progress=bar.update,
                    on_total=lambda total: setattr(bar, "total", total),
                )
            except NotFound as exc:
                print(exc.message, file=sys.stderr)
                return 2
    finally:
        executor.shutdown()
        await pool.close()
        application.close()
    print(
        f"edition {edition}: {outcome.wanted} reports for fingerprint {outcome.fingerprint}: "
        f"{outcome.rendered} rendered now, {outcome.already} already stored"
    )
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(prog="baro-reporting")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_and_relay(sub, SERVICE, "run the API, the consumers, the builds and the relay")
    build = sub.add_parser("build", help="render an edition's missing reports")
    build.add_argument("--edition", type=int, required=True)
    build.add_argument("--workers", type=int, default=render_workers())
    replay.add_command(sub)
    args = parser.parse_args()
    settings = Settings.from_env(SERVICE)
    if args.command == "serve":
        app = create_app(settings, run_relay=not args.no_relay)
        serve_app(app, service=SERVICE, host=args.host, port=args.port)
    elif args.command == "relay":
        asyncio.run(run_relay_only(settings, build_application, build_relay))
    elif args.command == "build":
        sys.exit(asyncio.run(run_build(settings, args.edition, args.workers)))
    else:
        sys.exit(asyncio.run(replay.run_command(args, settings)))


if __name__ == "__main__":
    cli()
