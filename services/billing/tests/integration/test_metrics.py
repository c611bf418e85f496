"""Billing's `/metrics` on real NATS JetStream and PostgreSQL: what an operator's dashboard
reads (requests per route, relay lag, the consumer's pending messages, dead letters)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import nats
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from baro_billing.main import create_app
from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, Tokens, eventually
from baro_chassis.testing import publish_events as publish
from billing_builders import Feed, registered

pytestmark = pytest.mark.integration


def sample(client: TestClient, name: str, **labels: str) -> float | None:
    """The value of the sample `name` with these labels on `/metrics` (None if absent)."""
    response = client.get("/metrics")  # no token: scrapers have none
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


QUOTES = {"service": "billing", "method": "GET", "route": "/editions/{year}/quotes"}


def test_requests_are_counted_per_route_template_and_status(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    feed(registered("Mairie de Dax"))
    before = {
        status: sample(client, "baro_http_requests_total", **QUOTES, status=status) or 0
        for status in ("200", "401", "404")
    }
    assert client.get("/editions/2025/quotes", headers=tokens.finance).status_code == 200
    assert client.get("/editions/2025/quotes", headers=tokens.finance).status_code == 200
    assert client.get("/editions/2099/quotes", headers=tokens.finance).status_code == 404
    assert client.get("/editions/2025/quotes").status_code == 401

    after = {
        status: sample(client, "baro_http_requests_total", **QUOTES, status=status)
        for status in before
    }
    assert after == {"200": before["200"] + 2, "401": before["401"] + 1, "404": before["404"] + 1}
    latency = sample(client, "baro_http_request_duration_seconds_count", **QUOTES, status="200")
    assert (latency or 0) >= 2
    families = [f.name for f in text_string_to_metric_families(client.get("/metrics").text)]
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
    assert "baro_http_request_duration_seconds" in families


def test_relay_lag_counts_what_is_recorded_and_not_yet_relayed(
    client: TestClient, feed: Feed
) -> None:
    """The `client` fixture runs no relay: what billing records waits."""
    assert sample(client, "baro_relay_lag_notifications", service="billing") == 0
    feed(registered("Mairie de Dax"), registered("Mairie de Pau"))
    lag = sample(client, "baro_relay_lag_notifications", service="billing")
    assert (lag or 0) >= 2
    assert sample(client, "baro_metrics_sample_up", service="billing", source="database") == 1


@pytest.fixture
def service(billing_settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """Billing as `serve` runs it: its consumer and relay on NATS."""
    clock.now = clock.now.replace(year=2025, month=2, day=10)
    with TestClient(create_app(billing_settings, clock=clock)) as test_client:
        yield test_client


async def publish_garbage(nats_url: str, subject: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(subject, json.dumps({"event_type": "no.such"}).encode())
    finally:
        await nc.close()


def test_consumer_pending_and_dead_letters_after_a_refused_message(
    service: TestClient, nats_url: str
) -> None:
    consumer = {"service": "billing", "stream": "REGISTRATION", "consumer": "billing"}
    asyncio.run(publish(nats_url, [registered("Mairie de Dax")]))
    dead_before = sample(service, "baro_dead_letters_total", consumer="billing") or 0
    asyncio.run(publish_garbage(nats_url, "registration.v1.registered"))

    def refused() -> bool:
        return sample(service, "baro_dead_letters_total", consumer="billing") == dead_before + 1

    eventually(refused)
    stored = {"service": "billing", "consumer": "billing"}
    assert eventually(lambda: sample(service, "baro_dead_letters_stored", **stored) == 1)
    # Both messages taken: nothing left for the consumer; what billing recorded relayed.
    assert eventually(lambda: sample(service, "baro_consumer_pending_messages", **consumer) == 0)
    assert sample(service, "baro_consumer_ack_pending_messages", **consumer) == 0
    assert eventually(
        lambda: sample(service, "baro_relay_lag_notifications", service="billing") == 0
    )
