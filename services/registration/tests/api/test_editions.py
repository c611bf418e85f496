"""Editions through the HTTP API: create, read, and every refusal of a bad edition."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from baro_chassis.bounds import FIRST_EDITION, LAST_EDITION
from baro_chassis.testing import Tokens
from registration_builders import EDITION, assert_refused


def test_an_admin_opens_an_edition_and_reads_it_back(client: TestClient, tokens: Tokens) -> None:
    created = client.post("/editions", json=EDITION, headers=tokens.admin)
    assert created.status_code == 201, created.text
    expected = {
        **EDITION,
        "status": "open",
        "registrations": 0,
        "closed_at": None,
        "granted": 0,
        "declined": 0,
        "panel_size": None,
    }
    assert created.json() == expected
    got = client.get("/editions/2027", headers=tokens.admin)
    assert got.status_code == 200
    assert got.json() == expected


def test_editions_are_kept_apart_by_year(client: TestClient, tokens: Tokens) -> None:
    later = {
        "year": 2028,
        "registration_deadline": "2028-03-15",
        "audit_window_start": "2028-04-01",
        "audit_window_end": "2028-05-31",
        "free_places": 40,
    }
    assert client.post("/editions", json=EDITION, headers=tokens.admin).status_code == 201
    assert client.post("/editions", json=later, headers=tokens.admin).status_code == 201
    assert client.get("/editions/2027", headers=tokens.admin).json()["free_places"] == 2
    assert client.get("/editions/2028", headers=tokens.admin).json()["free_places"] == 40


def test_an_unknown_edition_is_404(client: TestClient, tokens: Tokens) -> None:
    body = assert_refused(client.get("/editions/2031", headers=tokens.admin), 404)
    assert body["error"] == "not_found"
    assert "2031" in body["message"]


def test_opening_the_same_year_twice_is_409_and_keeps_the_first(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    again = {**EDITION, "free_places": 99, "registration_deadline": "2027-03-20"}
    body = assert_refused(client.post("/editions", json=again, headers=tokens.admin), 409, "year")
    assert body["error"] == "conflict"
    assert client.get("/editions/2027", headers=tokens.admin).json() == edition


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"audit_window_end": "2027-03-31"}, "audit_window_end"),
        ({"audit_window_end": "2027-04-01"}, "audit_window_end"),
        ({"registration_deadline": "2027-04-01"}, "registration_deadline"),
        ({"registration_deadline": "2027-05-01"}, "registration_deadline"),
        ({"registration_deadline": "2027-02-30"}, "registration_deadline"),
        ({"audit_window_start": "15/03/2027"}, "audit_window_start"),
        ({"audit_window_end": None}, "audit_window_end"),
        ({"free_places": -1}, "free_places"),
        ({"free_places": "many"}, "free_places"),
        ({"year": 2011}, "year"),
        ({"year": 2101}, "year"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_a_bad_edition_is_422_naming_the_field_and_creates_nothing(
    client: TestClient, tokens: Tokens, overrides: dict[str, Any], field: str
) -> None:
    body = {**EDITION, **overrides}
    assert_refused(client.post("/editions", json=body, headers=tokens.admin), 422, field)
    year = body["year"]
    # No edition was made; a year outside the editions' range is not even looked for.
    in_range = FIRST_EDITION <= year <= LAST_EDITION
    assert_refused(client.get(f"/editions/{year}", headers=tokens.admin), 404 if in_range else 422)


def test_a_missing_field_is_422_naming_it(client: TestClient, tokens: Tokens) -> None:
    body = {k: v for k, v in EDITION.items() if k != "registration_deadline"}
    assert_refused(
        client.post("/editions", json=body, headers=tokens.admin), 422, "registration_deadline"
    )
    assert_refused(client.get("/editions/2027", headers=tokens.admin), 404)


def test_closing_an_unknown_edition_is_404(client: TestClient, tokens: Tokens) -> None:
    assert_refused(client.post("/editions/2031/close", headers=tokens.admin), 404)


def test_registrations_of_an_unknown_edition_are_404(client: TestClient, tokens: Tokens) -> None:
    assert_refused(client.get("/editions/2031/registrations", headers=tokens.admin), 404)
