"""A year no edition can have is a 422 naming the range on every route, the public ones
included; it used to reach PostgreSQL as a 32-bit overflow and answer 500."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from baro_chassis.testing import Tokens

pytestmark = pytest.mark.integration


def test_a_year_out_of_range_is_422_on_every_route(client: TestClient, tokens: Tokens) -> None:
    some_id = uuid.uuid4()
    routes = [
        ("GET", "/editions/{year}/publication"),
        ("GET", "/editions/{year}/laureates"),
        ("GET", "/editions/{year}/kpis"),
        ("GET", "/editions/{year}/scores"),
        ("GET", "/editions/{year}/rankings"),
        ("GET", f"/editions/{{year}}/scores/{some_id}"),
        ("POST", "/editions/{year}/publish"),
    ]
    for method, route in routes:
        for year in (2**31, 2**63, 2011, 2101):
            refused = client.request(method, route.format(year=year), headers=tokens.admin)
            assert refused.status_code == 422, (route, year, refused.text)
            body = refused.json()
            assert body["error"] == "invalid_request"
            assert body["errors"][0]["field"] == "year"
    public = client.get("/editions/2147483648/publication")
    assert public.status_code == 422
    assert "less than or equal to 2100" in public.json()["message"]
    assert client.get("/editions/2040/publication").status_code == 404
