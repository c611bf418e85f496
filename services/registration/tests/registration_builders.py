"""Request bodies and response checks shared by the registration tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from baro_chassis.testing import Tokens
from baro_contracts.registration_v1 import Participation, StructureKind
from baro_registration.application import RegistrationApplication
from baro_registration.domain import siret_problem

EDITION = {
    "year": 2027,
    "registration_deadline": "2027-03-15",
    "audit_window_start": "2027-04-01",
    "audit_window_end": "2027-05-31",
    "free_places": 2,
}


def make_siret(number: int) -> str:
    """A valid SIRET whose first 13 digits encode `number` (the check digit the rules accept)."""
    body = f"{number:013d}"
    return next(body + d for d in "0123456789" if siret_problem(body + d) is None)


def open_edition_directly(application: RegistrationApplication) -> None:
    """Edition 2027, open until 2099, straight through the application."""
    application.open_edition(
        year=2027,
        registration_deadline=date(2099, 3, 15),
        audit_window_start=date(2099, 4, 1),
        audit_window_end=date(2099, 5, 31),
        free_places=0,
    )


def register_directly(
    application: RegistrationApplication, number: int, name: str | None = None
) -> None:
    """A paid France Services registration for 2027, straight through the application."""
    application.register(
        2027,
        siret=make_siret(10_000 + number),
        name=name or f"Structure {number}",
        kind=StructureKind.FRANCE_SERVICES,
        population=None,
        department="33",
        contacts={"referrer": {"name": "A", "email": "a@example.fr", "phone": "0102030405"}},
        sites=[{"name": "Accueil", "kind": "main", "address": "1 rue A", "contact_points": {}}],
        participation=Participation.PAID,
        options={},
        certifications=[],
    )


def registration_body(number: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "siret": make_siret(number),
        "name": f"Commune n°{number}",
        "kind": "commune",
        "population": 12_000,
        "department": "69",
        "contacts": {
            "referrer": {
                "name": "Jeanne Martin",
                "email": "jeanne.martin@example.fr",
                "phone": "+33 4 78 00 00 00",
            }
        },
        "sites": [
            {
                "name": "Hôtel de ville",
                "kind": "main",
                "address": "1 place de la Mairie, 69000 Lyon",
                "contact_points": {"phone": "04 78 00 00 00", "email": "accueil@example.fr"},
            }
        ],
        "participation": "paid",
        "options": {"physical_visit": False, "social_listening": False, "oral_restitution": False},
        "certifications": [],
    }
    body.update(overrides)
    return body


def assert_refused(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The refusal has `status`, the project's JSON error shape and, if given, names `field`."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "errors"}
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert set(error) == {"field", "reason"}
        assert error["reason"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def snapshot(client: TestClient, tokens: Tokens, year: int = 2027) -> tuple[Any, Any]:
    """What is recorded for an edition: the edition itself and every registration in it."""
    edition = client.get(f"/editions/{year}", headers=tokens.admin)
    listing = client.get(f"/editions/{year}/registrations", headers=tokens.admin)
    assert edition.status_code == 200, edition.text
    assert listing.status_code == 200, listing.text
    return edition.json(), listing.json()
