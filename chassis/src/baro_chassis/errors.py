"""One JSON shape for every refusal: what is wrong, where, and how to fix it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from baro_chassis.eventstore import Contention, EventTooLarge


class ProblemOut(BaseModel):
    field: str | None = Field(description="Where: a dotted path into the body, or a parameter.")
    reason: str


class ErrorOut(BaseModel):
    """Every refusal's body."""

    error: str = Field(description="A stable code: invalid_request, not_found, conflict...")
    message: str = Field(description="What is wrong and how to fix it.")
    errors: list[ProblemOut]


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "Refused by a rule of the domain",
        401: "No bearer token, or an invalid one",
        403: "The token's role or structure may not do this",
        404: "No such edition or resource",
        409: "In conflict with what is recorded",
        413: "The body is larger than the route's limit",
        422: "A parameter or the body is invalid: each field with its reason",
        503: "Busy: try again in a moment",
    }.items()
}
"""The refusals every route may answer, in one shape (declared in every route's OpenAPI)."""


class BodyTooLarge(StarletteHTTPException):
    """A body that passed its route's limit while it was being read (see body_limit.py)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"more than {limit} bytes")
        self.limit = limit


class ApiError(Exception):
    """A refusal with an HTTP status, a stable code, a message and, when known, the field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers

    def body(self) -> dict[str, Any]:
        errors = [{"field": self.field, "reason": self.message}] if self.field else []
        return {"error": self.code, "message": self.message, "errors": errors}


def install_refusals(
    app: FastAPI, base: type[Exception], statuses: Mapping[type[Exception], tuple[int, str]]
) -> None:
    """Answer a service's domain refusal (`base` or a subclass, with `message` and `field`)
    in the one JSON shape: the status and code its class is given in `statuses`, else 400
    "refused"."""

    @app.exception_handler(base)
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        status, code = statuses.get(type(exc), (400, "refused"))
        error = ApiError(
            status, code, getattr(exc, "message", str(exc)), field=getattr(exc, "field", None)
        )
        return JSONResponse(error.body(), status_code=error.status)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def _reason(error: Any) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def busy(exc: Contention) -> ApiError:
    """The refusal for a command that kept losing the race for its aggregates."""
    return ApiError(503, "busy", f"too many simultaneous changes, try again ({exc})")


def validation_problems(validation_errors: Sequence[Any]) -> list[tuple[str, str]]:
    """pydantic's errors as (field path, reason) pairs."""
    return [(_field_path(e.get("loc", ())), _reason(e)) for e in validation_errors]


def invalid_request_body(validation_errors: Sequence[Any]) -> dict[str, Any]:
    """The 422 body for pydantic's errors: each field with its reason, and a summary."""
    errors = [
        {"field": field, "reason": reason}
        for field, reason in validation_problems(validation_errors)
    ]
    summary = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return {"error": "invalid_request", "message": summary, "errors": errors}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(Contention)
    async def contention(_: Request, exc: Contention) -> JSONResponse:
        error = busy(exc)
        return JSONResponse(error.body(), status_code=error.status, headers={"Retry-After": "1"})

    @app.exception_handler(EventTooLarge)
    async def event_too_large(_: Request, exc: EventTooLarge) -> JSONResponse:
        body = {"error": "event_too_large", "message": str(exc), "errors": []}
        return JSONResponse(body, status_code=413)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(invalid_request_body(exc.errors()), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return JSONResponse(too_large_body(exc.limit), status_code=413)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail), "errors": []},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def too_large_body(limit: int) -> dict[str, Any]:
    """The 413 body, naming the route's limit."""
    over = f"more than {limit} bytes"
    return {
        "error": "body_too_large",
        "message": f"the request body is {over}, this route's limit: send less at once "
        "(a batch of probes split into several requests, say)",
        "errors": [{"field": "body", "reason": over}],
    }
