"""Billing on real NATS JetStream and PostgreSQL: registration's events in (duplicates
included), billing.v1 events out; order form numbers without gaps under concurrent issues."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import nats
import pytest
from fastapi.testclient import TestClient

from baro_billing.application import BillingApplication
from baro_billing.main import create_app
from baro_chassis.consumers import ensure_streams
from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, Tokens, eventually, read_stream
from baro_chassis.testing import publish_events as publish
from baro_contracts.streams import REGISTRATION_STREAM
from billing_builders import Feed, order_form_signed, registered

pytestmark = pytest.mark.integration


def test_twenty_concurrent_issues_number_order_forms_without_gaps(
    application: BillingApplication, feed: Feed
) -> None:
    quotes = [q for q in feed(*(registered(f"Commune {n}") for n in range(20))) if q]
    with ThreadPoolExecutor(max_workers=20) as pool:
        issued = list(pool.map(lambda q: application.issue(q.id, "finance@afnor"), quotes))
    numbers = sorted(q.number or "" for q in issued)
    assert numbers == [f"BC-2025-{n:06d}" for n in range(1, 21)]
    assert application.edition(2025).order_form_count == 20
    assert {application.order_form(q.number or "").id for q in issued} == {q.id for q in issued}


@pytest.fixture
def service(billing_settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """Billing as `serve` runs it: its consumer and relay on NATS."""
    clock.now = clock.now.replace(year=2025, month=2, day=10)
    with TestClient(create_app(billing_settings, clock=clock)) as test_client:
        yield test_client


def test_registration_events_in_billing_events_out(
    service: TestClient, tokens: Tokens, nats_url: str
) -> None:
    event = registered("Mairie de Dax", population=5_000)
    asyncio.run(publish(nats_url, [event]))
    asyncio.run(publish(nats_url, [event], msg_id=False))  # a duplicate JetStream keeps

    def quotes() -> list[dict[str, object]]:
        return service.get("/editions/2025/quotes", headers=tokens.finance).json().get("quotes", [])

    quote = eventually(quotes)[0]
    issued = service.post(f"/quotes/{quote['quote_id']}/issue", headers=tokens.finance)
    assert issued.status_code == 200, issued.text
    asyncio.run(publish(nats_url, [order_form_signed(event)]))
    eventually(
        lambda: (
            service.get("/order-forms/BC-2025-000001", headers=tokens.finance).json()["status"]
            == "signed"
        )
    )
    assert len(quotes()) == 1  # the duplicate made no second quote

    messages = asyncio.run(read_stream(nats_url, "BILLING", 3))
    subjects = sorted(m.subject for m in messages)
    assert subjects == [
        "billing.v1.2025.order_form_issued",
        "billing.v1.2025.order_form_signed",
        "billing.v1.2025.quote_issued",
    ]
    order_form = next(m for m in messages if m.subject.endswith("order_form_issued"))
    assert b'"number":"BC-2025-000001"' in order_form.data
    assert b'"ttc_cents":118800' in order_form.data


def test_a_message_that_is_not_a_registration_event_is_dead_lettered_and_the_rest_flows(
    service: TestClient, tokens: Tokens, nats_url: str
) -> None:
    async def send_garbage() -> None:
        await ensure_streams(nats_url, REGISTRATION_STREAM)
        nc = await nats.connect(nats_url)
        try:
            body = b'{"event_type": "registration.v1.structure_registered", "siret": "1"}'
            await nc.jetstream().publish("registration.v1.2025.structure_registered", body)
        finally:
            await nc.close()

    asyncio.run(send_garbage())
    (letter,) = asyncio.run(read_stream(nats_url, "DEAD_LETTER", 1))
    assert letter.subject == "deadletter.billing.registration.v1.2025.structure_registered"
    reason = (letter.headers or {})["Baro-Dead-Letter-Reason"]
    assert reason.startswith("not a registration.v1 event")
    assert "registration_id" in reason  # names what is missing
    asyncio.run(publish(nats_url, [registered()]))
    eventually(
        lambda: service.get("/editions/2025/quotes", headers=tokens.finance).json().get("quotes")
    )
