"""Numbers and texts a caller sends are bounded: out of range is a 422 naming the field and
the range, and nothing is recorded."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from baro_chassis.testing import Tokens
from registration_builders import assert_refused, registration_body

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("overrides", "field", "said"),
    [
        ({"population": 10**30}, "population", "less than or equal to 100000000"),
        ({"population": 0}, "population", "greater than or equal to 1"),
        ({"name": "x" * 301}, "name", "at most 300 characters"),
        ({"sites": [registration_body()["sites"][0]] * 101}, "sites", "at most 100 items"),
    ],
)
def test_an_absurd_registration_is_422_naming_the_field_and_its_range(
    client: TestClient,
    tokens: Tokens,
    edition: dict[str, Any],
    overrides: dict[str, Any],
    field: str,
    said: str,
) -> None:
    refused = client.post(
        "/editions/2027/registrations", json=registration_body(**overrides), headers=tokens.admin
    )
    body = assert_refused(refused, 422, field)
    assert said in body["message"]
    listed = client.get("/editions/2027/registrations", headers=tokens.admin)
    assert listed.json() == []


def test_a_year_no_edition_can_have_is_422_not_a_server_error(
    client: TestClient, tokens: Tokens
) -> None:
    for year in (2**31, -1, 2**63):
        refused = client.get(f"/editions/{year}", headers=tokens.admin)
        body = assert_refused(refused, 422, "year")
        assert "2100" in body["message"] or "2012" in body["message"]
