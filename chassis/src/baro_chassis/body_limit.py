"""Request bodies over a size limit answered 413 before anything reads them.

A declared Content-Length over the limit is refused at once, before routing; a body sent
without one (chunked) is counted as it arrives and refused as soon as the count passes the
limit. Starlette's own body limit answers a declared excess in plain text, whatever the
app's error handlers say, hence this one (refusals here are in the one JSON shape).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baro_chassis.errors import BodyTooLarge, too_large_body


class BodyLimit:
    """ASGI middleware: `limit` bytes for every request body, or for the paths matching a
    pattern of `per_route` (a regular expression matching the whole path) its size."""

    def __init__(self, app: ASGIApp, limit: int, per_route: Iterable[tuple[str, int]] = ()) -> None:
        self.app = app
        self.limit = limit
        self.per_route = [(re.compile(pattern), size) for pattern, size in per_route]

    def limit_for(self, path: str) -> int:
        return next((size for rx, size in self.per_route if rx.fullmatch(path)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            refusal = JSONResponse(
                too_large_body(limit), status_code=413, headers={"Connection": "close"}
            )
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised where the route reads its body: its handler answers the 413.
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
