"""Finance's client did not hear the answer (a timeout, a 5xx, a dropped connection) and sends
the same request again: it gets the answer the first success gave, never a 409, and nothing
is applied twice (one discount, one order form number, one credit note)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from baro_chassis.testing import Tokens
from billing_builders import Feed, registered

pytestmark = pytest.mark.integration


def the_quote(client: TestClient, tokens: Tokens, feed: Feed) -> str:
    feed(registered())
    quotes = client.get("/editions/2025/quotes", headers=tokens.finance).json()["quotes"]
    return str(quotes[0]["quote_id"])


def twice(send: Any) -> Any:
    first, again = send(), send()
    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    return first.json()


def test_a_discount_sent_again_is_taken_off_once(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    quote_id = the_quote(client, tokens, feed)
    discount = {"kind": "discount", "amount_cents": 10_000, "reason": "loyalty"}
    adjusted = twice(
        lambda: client.post(
            f"/quotes/{quote_id}/adjustments", json=discount, headers=tokens.finance
        )
    )
    assert adjusted["totals"]["ht_cents"] == 125_000 - 10_000
    assert len(adjusted["adjustments"]) == 1
    # Another reason is another discount.
    second = client.post(
        f"/quotes/{quote_id}/adjustments",
        json={**discount, "reason": "early signature"},
        headers=tokens.finance,
    )
    assert second.json()["totals"]["ht_cents"] == 125_000 - 20_000


def test_an_issue_sent_again_answers_the_same_order_form(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    quote_id = the_quote(client, tokens, feed)
    issued = twice(lambda: client.post(f"/quotes/{quote_id}/issue", headers=tokens.finance))
    assert issued["number"] == "BC-2025-000001"
    assert client.get("/order-forms/BC-2025-000002", headers=tokens.finance).status_code == 404


def test_a_cancellation_sent_again_answers_the_same_credit_note_and_revision(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    quote_id = the_quote(client, tokens, feed)
    client.post(f"/quotes/{quote_id}/issue", headers=tokens.finance)
    cancelled = twice(
        lambda: client.post(
            "/order-forms/BC-2025-000001/cancel",
            json={"reason": "wrong kind"},
            headers=tokens.finance,
        )
    )
    assert cancelled["credit_note"] == "AV-2025-000001"
    assert client.get("/credit-notes/AV-2025-000002", headers=tokens.finance).status_code == 404
    quotes = client.get("/editions/2025/quotes", headers=tokens.finance).json()["quotes"]
    assert len(quotes) == 2  # the cancelled one and one revision


def test_a_price_list_sent_again_is_answered_as_set(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    the_quote(client, tokens, feed)
    prices = {"small_structure_cents": 90_000}
    price_list = twice(
        lambda: client.put("/editions/2025/price-list", json=prices, headers=tokens.admin)
    )
    assert price_list["small_structure_cents"] == 90_000
