"""A structure's contacts through the HTTP API: read, correct, erase, the access log, and
which contact fields each role sees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from baro_chassis.testing import FakeClock, Tokens
from registration_builders import assert_refused, registration_body

REFERRER = {
    "name": "Jeanne Martin",
    "email": "jeanne.martin@example.fr",
    "phone": "+33 4 78 00 00 00",
}
MAYOR = {"name": "Paul Durand", "email": "maire@example.fr", "phone": "04 78 99 99 99"}
NEW_REFERRER = {
    "name": "Jeanne Martin",
    "email": "j.martin@example.fr",
    "phone": "+33 4 78 00 00 00",
}


def contacts_url(rid: str) -> str:
    return f"/editions/2027/registrations/{rid}/contacts"


@pytest.fixture
def mine(client: TestClient, tokens: Tokens, edition: dict[str, Any]) -> dict[str, Any]:
    """A registration with a referrer and a decision-maker."""
    body = registration_body(1, contacts={"referrer": REFERRER, "decision_maker": MAYOR})
    response = client.post("/editions/2027/registrations", json=body, headers=tokens.frontend)
    assert response.status_code == 201, response.text
    return dict(response.json())


def own(registration: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {registration['structure_token']}"}


def read(client: TestClient, rid: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(contacts_url(rid), headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def correct(client: TestClient, rid: str, headers: dict[str, str], **contacts: Any) -> Response:
    return client.put(contacts_url(rid), json=contacts, headers=headers)


def access_log(client: TestClient, tokens: Tokens, rid: str) -> list[dict[str, Any]]:
    response = client.get(f"{contacts_url(rid)}/access-log", headers=tokens.admin)
    assert response.status_code == 200, response.text
    return list(response.json())


def present(referrer: Any = None, decision_maker: Any = None) -> dict[str, Any]:
    return {"referrer": referrer, "decision_maker": decision_maker, "erased": None}


# --- reading ------------------------------------------------------------------------------


def test_the_structure_and_admin_read_every_contact(
    client: TestClient, tokens: Tokens, mine: dict[str, Any]
) -> None:
    rid = mine["registration_id"]
    assert mine["contacts"] == present(REFERRER, MAYOR)
    for headers in (own(mine), tokens.structure(rid), tokens.admin):
        assert read(client, rid, headers) == present(REFERRER, MAYOR)


def test_finance_sees_only_the_order_form_signers_name_and_email(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], mine: dict[str, Any]
) -> None:
    rid = mine["registration_id"]
    got = client.get(f"/editions/2027/registrations/{rid}", headers=tokens.finance).json()
    signer = {"name": MAYOR["name"], "email": MAYOR["email"], "phone": None}
    assert got["contacts"] == present(decision_maker=signer)
    # without a decision-maker, the referrer receives the order form
    body = registration_body(2, contacts={"referrer": REFERRER})
    alone = client.post("/editions/2027/registrations", json=body, headers=tokens.frontend).json()
    url = f"/editions/2027/registrations/{alone['registration_id']}"
    got = client.get(url, headers=tokens.finance).json()
    assert got["contacts"] == present(
        referrer={"name": REFERRER["name"], "email": REFERRER["email"], "phone": None}
    )
    assert_refused(client.get(contacts_url(rid), headers=tokens.finance), 403)


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_listing_registrations_shows_nobodys_contacts(
    client: TestClient, tokens: Tokens, mine: dict[str, Any], role: str
) -> None:
    listing = client.get("/editions/2027/registrations", headers=getattr(tokens, role))
    assert listing.status_code == 200, listing.text
    assert [r["contacts"] for r in listing.json()] == [None]
    assert "maire@example.fr" not in listing.text
    assert access_log(client, tokens, mine["registration_id"]) == []


@pytest.mark.parametrize("role", ["frontend", "auditor", "finance"])
def test_other_roles_cannot_read_correct_or_erase_contacts(
    client: TestClient, tokens: Tokens, mine: dict[str, Any], role: str
) -> None:
    rid = mine["registration_id"]
    headers = getattr(tokens, role)
    assert_refused(client.get(contacts_url(rid), headers=headers), 403)
    assert_refused(correct(client, rid, headers, referrer=NEW_REFERRER), 403)
    assert_refused(client.delete(contacts_url(rid), headers=headers), 403)
    assert read(client, rid, tokens.admin) == present(REFERRER, MAYOR)


def test_contacts_of_an_unknown_registration_are_404(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_refused(client.get(contacts_url(unknown), headers=tokens.admin), 404)
    assert_refused(client.delete(contacts_url(unknown), headers=tokens.admin), 404)
    assert_refused(correct(client, unknown, tokens.admin, referrer=REFERRER), 404)


# --- correcting ---------------------------------------------------------------------------


def test_the_structure_corrects_its_contacts(
    client: TestClient, tokens: Tokens, mine: dict[str, Any]
) -> None:
    rid = mine["registration_id"]
    response = correct(client, rid, own(mine), referrer=NEW_REFERRER)
    assert response.status_code == 200, response.text
    assert response.json() == present(NEW_REFERRER)
    assert read(client, rid, tokens.admin) == present(NEW_REFERRER)
    got = client.get(f"/editions/2027/registrations/{rid}", headers=own(mine)).json()
    assert got["contacts"] == present(NEW_REFERRER)


@pytest.mark.parametrize(
    ("contacts", "field"),
    [
        ({}, "contacts"),
        ({"referrer": None, "decision_maker": None}, "contacts"),
        ({"referrer": {**REFERRER, "email": "not-an-email"}}, "referrer.email"),
        ({"referrer": {**REFERRER, "phone": "call me"}}, "referrer.phone"),
        ({"referrer": {**REFERRER, "name": ""}}, "referrer.name"),
        ({"referrer": {"name": "J", "email": "j@example.fr"}}, "referrer.phone"),
        ({"assistant": REFERRER}, "assistant"),
    ],
)
def test_a_bad_correction_is_422_naming_the_field_and_changes_nothing(
    client: TestClient,
    tokens: Tokens,
    mine: dict[str, Any],
    contacts: dict[str, Any],
    field: str,
) -> None:
    rid = mine["registration_id"]
    assert_refused(correct(client, rid, tokens.admin, **contacts), 422, field)
    assert read(client, rid, tokens.admin) == present(REFERRER, MAYOR)


# --- erasing ------------------------------------------------------------------------------


def test_erased_contacts_read_as_erased_saying_when_and_by_whom(
    client: TestClient, tokens: Tokens, mine: dict[str, Any], clock: FakeClock
) -> None:
    rid = mine["registration_id"]
    clock.advance(days=2)
    response = client.delete(contacts_url(rid), headers=own(mine))
    assert response.status_code == 200, response.text
    erased = {"referrer": None, "decision_maker": None, "erased": response.json()["erased"]}
    assert response.json() == erased
    assert erased["erased"]["erased_by"] == "structure"
    assert datetime.fromisoformat(erased["erased"]["erased_at"]) == clock.now
    assert read(client, rid, tokens.admin) == erased
    assert read(client, rid, own(mine)) == erased
    for headers in (tokens.admin, tokens.finance, own(mine)):
        got = client.get(f"/editions/2027/registrations/{rid}", headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["contacts"] == erased
        assert got.json()["name"] == mine["name"]  # the registration itself stays
        assert "jeanne" not in got.text.lower()


def test_a_correction_after_the_erasure_is_410_and_records_nothing(
    client: TestClient, tokens: Tokens, mine: dict[str, Any]
) -> None:
    rid = mine["registration_id"]
    erased = client.delete(contacts_url(rid), headers=tokens.admin).json()
    for headers in (tokens.admin, own(mine)):
        body = assert_refused(correct(client, rid, headers, referrer=NEW_REFERRER), 410)
        assert body["error"] == "gone"
        assert "erased" in body["message"]
        assert "admin" in body["message"]
    assert read(client, rid, tokens.admin) == erased


def test_erasing_again_answers_the_first_erasure(
    client: TestClient, tokens: Tokens, mine: dict[str, Any], clock: FakeClock
) -> None:
    rid = mine["registration_id"]
    first = client.delete(contacts_url(rid), headers=tokens.admin)
    clock.advance(hours=1)
    again = client.delete(contacts_url(rid), headers=own(mine))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.json()["erased"]["erased_by"] == "admin"


def test_an_erasure_touches_no_other_registration(
    client: TestClient, tokens: Tokens, mine: dict[str, Any]
) -> None:
    body = registration_body(2, contacts={"referrer": MAYOR})
    other = client.post("/editions/2027/registrations", json=body, headers=tokens.frontend).json()
    assert (
        client.delete(contacts_url(mine["registration_id"]), headers=own(mine)).status_code == 200
    )
    assert read(client, other["registration_id"], tokens.admin) == present(MAYOR)


# --- the access log -----------------------------------------------------------------------


def test_every_read_correction_and_erasure_is_logged_with_who_what_and_when(
    client: TestClient, tokens: Tokens, mine: dict[str, Any], clock: FakeClock
) -> None:
    rid = mine["registration_id"]
    everything = [
        f"{role}.{field}"
        for role in ("referrer", "decision_maker")
        for field in ("email", "name", "phone")
    ]
    read(client, rid, own(mine))
    clock.advance(minutes=1)
    client.get(f"/editions/2027/registrations/{rid}", headers=tokens.finance)
    clock.advance(minutes=1)
    assert correct(client, rid, tokens.admin, referrer=NEW_REFERRER).status_code == 200
    clock.advance(minutes=1)
    assert client.delete(contacts_url(rid), headers=own(mine)).status_code == 200
    clock.advance(minutes=1)
    read(client, rid, tokens.admin)

    log = access_log(client, tokens, rid)
    assert [(e["action"], e["role"], e["subject"], e["fields"]) for e in log] == [
        ("read", "structure", f"structure:{rid}", everything),
        ("read", "finance", "finance", ["decision_maker.email", "decision_maker.name"]),
        (
            "corrected",
            "admin",
            "admin",
            [
                "decision_maker.email",
                "decision_maker.name",
                "decision_maker.phone",
                "referrer.email",
            ],
        ),
        (
            "erased",
            "structure",
            f"structure:{rid}",
            ["referrer.email", "referrer.name", "referrer.phone"],
        ),
        ("read", "admin", "admin", []),
    ]
    times = [datetime.fromisoformat(e["at"]) for e in log]
    assert times == sorted(times)
    assert times[-1] == clock.now


def test_the_access_log_is_for_admin_only(
    client: TestClient, tokens: Tokens, mine: dict[str, Any]
) -> None:
    url = f"{contacts_url(mine['registration_id'])}/access-log"
    for headers in (own(mine), tokens.finance, tokens.frontend):
        assert_refused(client.get(url, headers=headers), 403)
