"""While PostgreSQL is down, the registration API says so (503 with Retry-After, `/ready`
naming what is not ready), and works again by itself once PostgreSQL is back."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from baro_chassis.embedded import EmbeddedPostgres
from baro_chassis.postgres import ensure_database
from baro_chassis.settings import database_url_for
from baro_chassis.testing import Tokens, settings_of
from baro_registration.main import create_app
from registration_builders import EDITION

pytestmark = pytest.mark.integration


def eventually_answers(ask: Callable[[], Response], status: int, timeout: float = 30) -> Response:
    deadline = time.monotonic() + timeout
    while (response := ask()).status_code != status:
        assert time.monotonic() < deadline, f"still {response.status_code}: {response.text}"
        time.sleep(0.1)
    return response


def test_a_postgresql_outage_is_answered_503_and_healed_by_itself(
    nats_url: str, restartable_postgres: EmbeddedPostgres, tokens: Tokens
) -> None:
    database_url = database_url_for(restartable_postgres.url, "registration")
    ensure_database(database_url)
    app = create_app(settings_of("registration", database_url, nats_url))
    with TestClient(app) as client:
        ready = eventually_answers(lambda: client.get("/ready"), 200).json()
        assert ready["status"] == "ready"
        assert {"database", "relay"} <= ready["parts"].keys()
        assert client.post("/editions", json=EDITION, headers=tokens.admin).status_code == 201

        restartable_postgres.stop()
        down = eventually_answers(lambda: client.get("/ready"), 503).json()
        assert "database" in down["not_ready"]
        assert down["parts"]["database"]["ready"] is False
        refused = client.get("/editions/2027", headers=tokens.admin)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"]
        assert refused.json()["error"] == "unavailable"
        assert "again" in refused.json()["message"]

        restartable_postgres.start()
        eventually_answers(lambda: client.get("/ready"), 200)
        edition = client.get("/editions/2027", headers=tokens.admin)
        assert edition.status_code == 200, edition.text
        assert edition.json()["year"] == 2027
