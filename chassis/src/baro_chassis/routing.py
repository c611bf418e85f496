"""The route class of every service: what the headers alone can refuse, refused before the
body is read.

FastAPI reads, parses and validates a route's body (and its path parameters) before it runs
the route's dependencies: an anonymous caller would cost a full parse and be told what is
wrong with the body. A `GuardedRoute` checks the route's `require(...)` on the
Authorization header first (401 or 403); only then is the body read (its size is limited
by body_limit.py). Its OpenAPI declares the refusals every route may answer, in the one
error shape.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from baro_chassis.auth import Requirement
from baro_chassis.errors import REFUSALS


def requirements_of(dependant: Dependant) -> list[Requirement]:
    """The `require(...)` dependencies of a route, at any depth."""
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Requirement)]
    return found + [r for d in dependant.dependencies for r in requirements_of(d)]


class GuardedRoute(APIRoute):
    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        responses: dict[int | str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(path, endpoint, responses={**REFUSALS, **(responses or {})}, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        requirements = requirements_of(self.dependant)

        async def guarded(request: Request) -> Response:
            for requirement in requirements:
                await requirement.check(request)
            return await handler(request)

        return guarded
