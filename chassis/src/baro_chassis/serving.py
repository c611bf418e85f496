"""Running a service's API under uvicorn, with its JSON logs and a graceful drain.

On the first SIGTERM the process drains: `/ready` answers 503 ("draining") at once, so a
load balancer stops sending, while requests are still served for BARO_DRAIN_SECONDS (default
0; in Kubernetes a few seconds, the time for the endpoint to be removed). Then uvicorn stops
accepting, finishes the requests in flight (for at most BARO_SHUTDOWN_TIMEOUT_SECONDS,
default 15), and the lifespan ends the relay and consumers after the batch or message in
hand. The process then exits 0. A second SIGTERM, or SIGINT, stops it as uvicorn does.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from baro_chassis.logs import configure_logging, uvicorn_log_config

DRAINING = threading.Event()
"""Set in this process once SIGTERM has arrived (read by `/ready`)."""


def _seconds(variable: str, default: float) -> float:
    return float(os.environ.get(variable, default))


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self._drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not DRAINING.is_set():
            # Not recorded as uvicorn would (it raises the signal again once it has shut
            # down): a drained process exits 0.
            DRAINING.set()
            self._drain_until = time.monotonic() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and time.monotonic() >= self._drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


def serve_app(app: FastAPI | str, *, service: str, host: str, port: int, **options: Any) -> None:
    """`uvicorn.run(app, ...)` with the service's log format and the drain above. With
    `workers` > 1 (an import string then), uvicorn's supervisor runs them without the drain."""
    configure_logging(service)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=os.environ.get("BARO_LOG_LEVEL", "warning").lower(),
        log_config=uvicorn_log_config(),
        timeout_graceful_shutdown=int(_seconds("BARO_SHUTDOWN_TIMEOUT_SECONDS", 15)),
        **options,
    )
    if config.workers > 1:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=config.log_level,
            log_config=config.log_config,
            timeout_graceful_shutdown=config.timeout_graceful_shutdown,
            **options,
        )
        return
    server = DrainingServer(config, drain_seconds=_seconds("BARO_DRAIN_SECONDS", 0))
    server.run()
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run: the server could not start
