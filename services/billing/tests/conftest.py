from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from baro_billing.application import BillingApplication
from baro_billing.consumers import apply_registration_event
from baro_billing.main import create_app
from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, settings_of
from billing_builders import Feed


@pytest.fixture
def billing_settings(database_url: str, nats_url: str) -> Settings:
    return settings_of("billing", database_url, nats_url)


@pytest.fixture
def client(billing_settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """The billing API on a fresh real PostgreSQL database, without relay or consumer:
    tests hand it registration's events through `feed`."""
    clock.now = clock.now.replace(year=2025, month=2, day=10)
    app = create_app(billing_settings, run_relay=False, run_consumer=False, clock=clock)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def application(client: TestClient) -> BillingApplication:
    app: BillingApplication = client.app.state.application  # type: ignore[attr-defined]
    return app


@pytest.fixture
def feed(application: BillingApplication) -> Feed:
    """Apply registration.v1 events as the consumer would."""

    def apply(*events: Any) -> list[Any]:
        return [apply_registration_event(application, e) for e in events]

    return apply
