"""A byte-identical retry of any write answers as its first success did (the first answer
lost, or a 5xx after it was recorded), never 409; a different request stays 409."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest.mock import ANY

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from baro_chassis.testing import FakeClock, Tokens
from baro_registration import api
from registration_builders import EDITION, assert_refused, registration_body, snapshot

AFTER_DEADLINE = {"days": 60}
SITE = {"name": "Mairie annexe", "kind": "annex", "address": "2 rue de la Poste, 69000 Lyon"}


def register(client: TestClient, tokens: Tokens, body: dict[str, Any]) -> Response:
    return client.post("/editions/2027/registrations", json=body, headers=tokens.frontend)


def registered(client: TestClient, tokens: Tokens, number: int, **overrides: Any) -> Any:
    response = register(client, tokens, registration_body(number, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def without_token(registration: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in registration.items() if k != "structure_token"}


# --- editions -----------------------------------------------------------------------------


def test_opening_an_edition_again_answers_201_with_the_edition(
    client: TestClient, tokens: Tokens
) -> None:
    first = client.post("/editions", json=EDITION, headers=tokens.admin)
    assert first.status_code == 201, first.text
    registered(client, tokens, 1)
    again = client.post("/editions", json=EDITION, headers=tokens.admin)
    assert again.status_code == 201, again.text
    assert again.json() == {**first.json(), "registrations": 1}
    other = {**EDITION, "free_places": 99}
    assert_refused(client.post("/editions", json=other, headers=tokens.admin), 409, "year")


# --- registrations ------------------------------------------------------------------------


def test_registering_again_answers_201_with_the_same_registration_and_a_working_token(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    body = registration_body(1)
    first = register(client, tokens, body)
    assert first.status_code == 201, first.text
    before = snapshot(client, tokens)
    clock.advance(minutes=5)
    again = register(client, tokens, body)
    assert again.status_code == 201, again.text
    assert without_token(again.json()) == without_token(first.json())
    assert again.headers["location"] == first.headers["location"]
    own = {"Authorization": f"Bearer {again.json()['structure_token']}"}
    got = client.get(first.headers["location"], headers=own)
    assert got.status_code == 200, got.text
    assert snapshot(client, tokens) == before


def test_a_registration_retried_after_the_deadline_or_the_close_is_still_the_same(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    body = registration_body(1, participation="free")
    first = register(client, tokens, body).json()
    clock.advance(**AFTER_DEADLINE)
    late = register(client, tokens, body)
    assert late.status_code == 201, late.text
    assert late.json()["registration_id"] == first["registration_id"]
    assert client.post("/editions/2027/close", headers=tokens.admin).status_code == 200
    closed = register(client, tokens, body)
    assert closed.status_code == 201, closed.text
    assert closed.json()["registration_id"] == first["registration_id"]
    assert closed.json()["status"] == "in_panel"  # as it stands now: granted at the close
    assert_refused(register(client, tokens, registration_body(2)), 409)


def test_a_registration_retried_after_its_contacts_were_corrected_is_still_the_same(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    body = registration_body(1)
    first = register(client, tokens, body).json()
    url = f"/editions/2027/registrations/{first['registration_id']}/contacts"
    other = {"decision_maker": {"name": "M", "email": "m@example.fr", "phone": "0102030405"}}
    assert client.put(url, json=other, headers=tokens.admin).status_code == 200
    again = register(client, tokens, body)
    assert again.status_code == 201, again.text
    assert again.json()["registration_id"] == first["registration_id"]


def test_registering_again_after_the_contacts_were_erased_is_409_saying_so(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    body = registration_body(1)
    rid = register(client, tokens, body).json()["registration_id"]
    url = f"/editions/2027/registrations/{rid}/contacts"
    assert client.delete(url, headers=tokens.admin).status_code == 200
    refused = assert_refused(register(client, tokens, body), 409, "siret")
    assert "erased" in refused["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Another name"},
        {"participation": "free"},
        {"population": 12_001},
        {"sites": [{**registration_body(1)["sites"][0], "address": "elsewhere"}]},
        {
            "contacts": {
                "referrer": {"name": "Other", "email": "o@example.fr", "phone": "0102030405"}
            }
        },
    ],
    ids=["name", "participation", "population", "site", "contacts"],
)
def test_another_registration_of_the_same_siret_stays_409(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], change: dict[str, Any]
) -> None:
    first = registered(client, tokens, 1)
    before = snapshot(client, tokens)
    body = assert_refused(register(client, tokens, registration_body(1, **change)), 409, "siret")
    assert "already registered" in body["message"]
    assert snapshot(client, tokens) == before
    assert [r["registration_id"] for r in before[1]] == [first["registration_id"]]


def test_a_registration_answered_500_after_it_was_recorded_is_201_on_the_retry(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def token_service_down(*_: Any, **__: Any) -> str:
        raise RuntimeError("the answer is lost after the commit")

    body = registration_body(1)
    with monkeypatch.context() as patched:
        patched.setattr(api, "issue_token", token_service_down)
        with pytest.raises(RuntimeError):
            register(client, tokens, body)  # the client would get a 500
    assert snapshot(client, tokens)[0]["registrations"] == 1  # it was recorded
    retry = register(client, tokens, body)
    assert retry.status_code == 201, retry.text
    assert snapshot(client, tokens)[0]["registrations"] == 1
    own = {"Authorization": f"Bearer {retry.json()['structure_token']}"}
    assert client.get(retry.headers["location"], headers=own).status_code == 200


def test_ten_simultaneous_identical_registrations_all_answer_the_one_registration(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    body = registration_body(1)
    start = threading.Barrier(10)

    def post(_: int) -> Response:
        start.wait()
        return register(client, tokens, body)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(post, range(10)))
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert len({r.json()["registration_id"] for r in responses}) == 1
    assert snapshot(client, tokens)[0]["registrations"] == 1


# --- sites, signature, switch to paid -----------------------------------------------------


def test_adding_the_same_site_again_answers_201_with_that_site(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    rid = registered(client, tokens, 1)["registration_id"]
    url = f"/editions/2027/registrations/{rid}/sites"
    first = client.post(url, json=SITE, headers=tokens.admin)
    assert first.status_code == 201, first.text
    clock.advance(**AFTER_DEADLINE)
    again = client.post(url, json=SITE, headers=tokens.structure(rid))
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    sites = client.get(f"/editions/2027/registrations/{rid}", headers=tokens.admin).json()["sites"]
    assert [s["name"] for s in sites] == ["Hôtel de ville", "Mairie annexe"]
    assert_refused(client.post(url, json={**SITE, "name": "Autre"}, headers=tokens.admin), 409)


def test_signing_again_by_the_same_person_answers_the_signature(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    rid = registered(client, tokens, 1)["registration_id"]
    url = f"/editions/2027/registrations/{rid}/order-form-signature"
    first = client.post(url, json={"signed_by": "Jeanne Martin"}, headers=tokens.structure(rid))
    assert first.status_code == 200, first.text
    clock.advance(days=1)
    again = client.post(url, json={"signed_by": "Jeanne Martin"}, headers=tokens.structure(rid))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    body = assert_refused(client.post(url, json={"signed_by": "X"}, headers=tokens.admin), 409)
    assert "already signed by Jeanne Martin" in body["message"]


def test_switching_to_paid_again_answers_the_switch(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    free = []
    for number in (1, 2, 3):
        free.append(registered(client, tokens, number, participation="free"))
        clock.advance(hours=1)
    assert client.post("/editions/2027/close", headers=tokens.admin).status_code == 200
    rid = free[2]["registration_id"]  # the third free one is declined (2 free places)
    url = f"/editions/2027/registrations/{rid}/switch-to-paid"
    body = {"options": {"physical_visit": True}}
    first = client.post(url, json=body, headers=tokens.structure(rid))
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "in_panel"
    for retry in (body, {}):  # the same options, or none: nothing differs from the switch
        again = client.post(url, json=retry, headers=tokens.admin)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    other = {"options": {"physical_visit": False}}
    assert_refused(client.post(url, json=other, headers=tokens.admin), 409)


# --- contacts -----------------------------------------------------------------------------


def test_correcting_contacts_again_records_nothing_more(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    rid = registered(client, tokens, 1)["registration_id"]
    url = f"/editions/2027/registrations/{rid}/contacts"
    new = {"decision_maker": {"name": "M", "email": "m@example.fr", "phone": "0102030405"}}
    first = client.put(url, json=new, headers=tokens.structure(rid))
    again = client.put(url, json=new, headers=tokens.structure(rid))
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    log = client.get(f"{url}/access-log", headers=tokens.admin).json()
    assert [(e["action"], len(e["fields"])) for e in log] == [("corrected", ANY), ("corrected", 0)]
    assert log[0]["fields"]
