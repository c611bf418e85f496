"""What the headers alone can refuse is refused before the body is read: a body over the
route's limit (413), a missing or invalid token (401), a role that may not (403)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from baro_chassis.auth import Principal, Role, require
from baro_chassis.http import create_service_app
from baro_chassis.routing import GuardedRoute
from baro_chassis.testing import Tokens, settings_of

LIMIT = 1_000
LARGER = 5_000
bodies_validated: list[str] = []


class NoteIn(BaseModel):
    text: str

    @field_validator("text")
    @classmethod
    def counted(cls, value: str) -> str:
        bodies_validated.append(value)
        return value


Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


@pytest.fixture
def client() -> TestClient:
    router = APIRouter(route_class=GuardedRoute)

    @router.post("/notes")
    async def add_note(body: NoteIn, _: Admin) -> dict[str, int]:
        return {"length": len(body.text)}

    @router.post("/notes/bulk")
    async def add_notes(body: NoteIn, _: Admin) -> dict[str, int]:
        return {"length": len(body.text)}

    settings = settings_of("registration", "postgresql://unused", "nats://unused")
    limited = replace(settings, max_body_bytes=LIMIT)
    app = create_service_app(
        limited, title="test", description="guarded routes", larger_bodies={"/notes/bulk": LARGER}
    )
    app.include_router(router)
    bodies_validated.clear()
    return TestClient(app)


def test_an_anonymous_caller_is_refused_before_its_body_is_read(client: TestClient) -> None:
    garbage = client.post(
        "/notes", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 401
    assert garbage.json()["error"] == "unauthorized"
    invalid = client.post("/notes", json={"text": 5, "extra": True})
    assert invalid.status_code == 401
    assert client.post("/notes", json={"text": "hello"}).status_code == 401
    assert bodies_validated == []


def test_a_role_that_may_not_is_refused_before_its_body_is_read(
    client: TestClient, tokens: Tokens
) -> None:
    refused = client.post("/notes", json={"text": "hello"}, headers=tokens.auditor)
    assert refused.status_code == 403
    assert "admin" in refused.json()["message"]
    assert bodies_validated == []
    bad_token = client.post(
        "/notes", json={"text": "hello"}, headers={"Authorization": "Bearer nope"}
    )
    assert bad_token.status_code == 401
    assert bodies_validated == []


def test_the_right_role_gets_its_body_checked(client: TestClient, tokens: Tokens) -> None:
    assert client.post("/notes", json={"text": "hello"}, headers=tokens.admin).json() == {
        "length": 5
    }
    invalid = client.post("/notes", json={"text": 5}, headers=tokens.admin)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "text"


def test_a_body_declared_over_the_limit_is_refused_at_once(
    client: TestClient, tokens: Tokens
) -> None:
    big = {"text": "x" * LIMIT}
    for headers in (tokens.admin, {}):
        refused = client.post("/notes", json=big, headers=headers)
        assert refused.status_code == 413
        body = refused.json()
        assert body["error"] == "body_too_large"
        assert f"more than {LIMIT} bytes" in body["message"]
        assert body["errors"] == [{"field": "body", "reason": f"more than {LIMIT} bytes"}]
    assert bodies_validated == []


def test_a_chunked_body_is_counted_and_refused_past_the_limit(
    client: TestClient, tokens: Tokens
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(LIMIT // 100 + 1):
            yield b"x" * 100
        yield b'"}'

    refused = client.post(
        "/notes",
        content=chunks(),
        headers={**tokens.admin, "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in refused.request.headers}
    assert refused.status_code == 413
    assert refused.json()["error"] == "body_too_large"
    assert bodies_validated == []


def test_a_route_with_a_larger_limit_takes_a_larger_body(
    client: TestClient, tokens: Tokens
) -> None:
    text = "x" * (LIMIT * 2)
    taken = client.post("/notes/bulk", json={"text": text}, headers=tokens.admin)
    assert taken.status_code == 200, taken.text
    over = client.post("/notes/bulk", json={"text": "x" * LARGER}, headers=tokens.admin)
    assert over.status_code == 413
    assert f"more than {LARGER} bytes" in over.json()["message"]
