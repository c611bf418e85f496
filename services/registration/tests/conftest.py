from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, Tokens
from baro_registration.main import create_app
from registration_builders import EDITION


@pytest.fixture
def client(settings_for: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """The registration API on a fresh real PostgreSQL database, without its relay."""
    app = create_app(settings_for, run_relay=False, clock=clock)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def edition(client: TestClient, tokens: Tokens) -> dict[str, Any]:
    response = client.post("/editions", json=EDITION, headers=tokens.admin)
    assert response.status_code == 201, response.text
    return dict(response.json())
