from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from baro_chassis.settings import Settings
from baro_chassis.testing import settings_of
from baro_reporting.main import create_app


@pytest.fixture
def reporting_settings(database_url: str, nats_url: str) -> Settings:
    return settings_of("reporting", database_url, nats_url)


@pytest.fixture
def start_reporting(
    reporting_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], TestClient]]:
    """Start the reporting service (consumers, builds, relay) on real NATS and PostgreSQL."""
    monkeypatch.setenv("BARO_REPORTING_WORKERS", "1")
    clients: list[TestClient] = []

    def start() -> TestClient:
        client = TestClient(create_app(reporting_settings))
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def reporting(start_reporting: Callable[[], TestClient]) -> TestClient:
    return start_reporting()
