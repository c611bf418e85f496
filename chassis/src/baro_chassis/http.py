"""The FastAPI app every service starts from: errors, health, docs, telemetry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from baro_chassis.errors import install_error_handlers
from baro_chassis.settings import Settings
from baro_chassis.telemetry import setup_telemetry

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    settings: Settings, *, title: str, description: str, lifespan: Lifespan | None = None
) -> FastAPI:
    # Warnings and errors of our own code (relay, consumers) go to the service's log.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    setup_telemetry(settings.service)
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "service": settings.service}

    # One span per request; the per-chunk receive/send spans cost more than they tell.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="health,docs,openapi.json", exclude_spans=["receive", "send"]
    )
    return app
