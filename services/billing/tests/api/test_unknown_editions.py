"""Billing knows an edition once registration's events open it: before that, its price list
is a 404 saying so, and nothing can be priced for it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from baro_chassis.testing import Tokens
from billing_builders import Feed, edition_opened

pytestmark = pytest.mark.integration


def test_an_edition_registration_never_opened_has_no_price_list(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    for call in (
        lambda: client.get("/editions/2031/price-list", headers=tokens.finance),
        lambda: client.put(
            "/editions/2031/price-list",
            json={"small_structure_cents": 95_000},
            headers=tokens.admin,
        ),
        lambda: client.get("/editions/2031/quotes", headers=tokens.finance),
    ):
        unknown = call()
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["error"] == "not_found"
        assert "edition 2031 is unknown to billing" in unknown.json()["message"]
    feed(edition_opened(2031))
    opened = client.get("/editions/2031/price-list", headers=tokens.finance)
    assert opened.status_code == 200, opened.text
    assert opened.json()["small_structure_cents"] == 99_000
    assert client.get("/editions/2031/quotes", headers=tokens.finance).json()["quotes"] == []


def test_a_price_out_of_range_is_422_naming_it(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    feed(edition_opened(2031))
    for field, value in (
        ("small_structure_cents", 10**30),
        ("population_threshold", 10**30),
        ("vat_rate_percent", 101),
    ):
        refused = client.put("/editions/2031/price-list", json={field: value}, headers=tokens.admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field
        assert "less than or equal to" in refused.json()["message"]
    kept = client.get("/editions/2031/price-list", headers=tokens.finance).json()
    assert kept["small_structure_cents"] == 99_000
