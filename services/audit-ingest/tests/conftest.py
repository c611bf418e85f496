from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit_builders import Feed, edition_opened, registration_closed, structure_registered
from baro_audit_ingest.application import AuditApplication
from baro_audit_ingest.consumers import apply_registration_event
from baro_audit_ingest.main import create_app
from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, settings_of
from baro_contracts import registration_v1 as reg


@pytest.fixture
def audit_settings(database_url: str, nats_url: str) -> Settings:
    return settings_of("audit-ingest", database_url, nats_url)


@pytest.fixture
def client(audit_settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """The audit-ingest API on a fresh real PostgreSQL database, without relay or consumer:
    tests hand it registration's events through `feed`."""
    clock.now = clock.now.replace(year=2027, month=4, day=2)
    app = create_app(audit_settings, run_relay=False, run_consumer=False, clock=clock)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def application(client: TestClient) -> AuditApplication:
    app: AuditApplication = client.app.state.application  # type: ignore[attr-defined]
    return app


@pytest.fixture
def feed(application: AuditApplication) -> Feed:
    """Apply registration.v1 events as the consumer would."""

    def apply(*events: Any) -> list[Any]:
        return [apply_registration_event(application, e) for e in events]

    return apply


@pytest.fixture
def edition(feed: Feed) -> reg.EditionOpened:
    opened = edition_opened()
    feed(opened)
    return opened


@pytest.fixture
def panel(feed: Feed, edition: reg.EditionOpened) -> list[reg.StructureRegistered]:
    """Two paid structures (the second with the visit option and two sites), plans issued."""
    from audit_builders import site

    first = structure_registered()
    second = structure_registered(
        physical_visit=True, sites=[site(), site(reg.SiteKind.ANNEX, "Annex town hall")]
    )
    feed(first, second, registration_closed())
    return [first, second]
