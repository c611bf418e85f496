from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, settings_of
from baro_scoring.main import create_app
from scoring_builders import Events


@pytest.fixture
def scoring_settings(database_url: str, nats_url: str) -> Settings:
    return settings_of("scoring", database_url, nats_url)


@pytest.fixture
def client(scoring_settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """The scoring service on a fresh database and NATS without streams: its consumers, its
    relay and its API, as `serve` runs them."""
    clock.now = clock.now.replace(year=2027, month=6, day=15)
    with TestClient(create_app(scoring_settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def events() -> Events:
    return Events()
