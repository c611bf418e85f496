"""A request that meets a lost connection to PostgreSQL or NATS is answered 503 with
Retry-After and what to do, never a 500 with a traceback; the pools reconnect by themselves
and the same request works again once the server is back."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from baro_chassis.resilience import CONNECTION_ERRORS

RETRY_AFTER_SECONDS = 2


def unavailable_body(exc: BaseException) -> dict[str, object]:
    return {
        "error": "unavailable",
        "message": f"a server this service depends on cannot be reached right now "
        f"({type(exc).__name__}); send the same request again in a few seconds",
        "errors": [],
    }


def install_outage_handler(app: FastAPI) -> None:
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            unavailable_body(exc),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for error in CONNECTION_ERRORS:
        app.add_exception_handler(error, unavailable)
