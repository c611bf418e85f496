"""Request bodies for the registration tests."""

from __future__ import annotations

from typing import Any

EDITION = {
    "year": 2027,
    "registration_deadline": "2027-03-15",
    "audit_window_start": "2027-04-01",
    "audit_window_end": "2027-05-31",
    "free_places": 2,
}


def make_siret(number: int) -> str:
    """A valid SIRET (Luhn) whose first 13 digits encode `number`."""
    body = f"{number:013d}"
    for check in range(10):
        candidate = body + str(check)
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char)
            if index % 2 == 1:
                digit = digit * 2 - 9 if digit > 4 else digit * 2
            total += digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


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
