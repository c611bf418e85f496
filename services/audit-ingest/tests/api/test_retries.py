"""A client that did not hear the answer (a timeout, a 5xx, a dropped connection) sends the
same request again: it gets the answer the first success gave, never a 409, and nothing is
recorded twice."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from audit_builders import Feed, post_probe, probe_body, referential_body, registration_closed
from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel

SETTINGS = {
    "channel_mix": {"phone": 5, "email": 2, "mail": 2, "website": 2, "social": 2},
    "seed": "afnor-2027",
    "auditors": [f"MC-{n:03d}" for n in range(100, 120)],
}


def twice(send: Any) -> tuple[Any, Any]:
    first, again = send(), send()
    assert first.status_code in (200, 201), first.text
    assert again.status_code == first.status_code, again.text
    return first.json(), again.json()


def test_a_correction_sent_again_answers_the_same_revision(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    body = probe_body(panel[0], Channel.PHONE)
    assert post_probe(client, tokens.auditor, body).status_code == 201
    correction = {
        "answers": {"PHO-PRO-03": "partial", "PHO-ACC-01": True},
        "reason": "Wrong box ticked on the tablet",
    }
    path = f"/editions/2027/probes/{body['probe_id']}/corrections"
    first, again = twice(lambda: client.post(path, json=correction, headers=tokens.auditor))
    assert again == first
    assert first["revision"] == 2
    stored = client.get(f"/editions/2027/probes/{body['probe_id']}", headers=tokens.auditor)
    assert stored.json()["revision"] == 2


def test_a_referential_published_again_is_the_same_version_even_once_frozen(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    document = referential_body("baro-2027-v2")  # the default items, another name

    def put() -> Any:
        return client.put("/editions/2027/referential", json=document, headers=tokens.admin)

    first, again = twice(put)
    assert (first["version"], again["version"]) == (2, 2)
    assert post_probe(client, tokens.auditor, probe_body(panel[0])).status_code == 201  # freezes
    retried = put()
    assert retried.status_code == 200, retried.text
    assert retried.json()["version"] == 2
    assert retried.json()["latest_version"] == 2


def test_plan_settings_sent_again_after_the_close_are_answered_as_set(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    def put() -> Any:
        return client.put("/editions/2027/plan-settings", json=SETTINGS, headers=tokens.admin)

    first, again = twice(put)
    assert again == first
    feed(registration_closed())
    after_close = put()
    assert after_close.status_code == 200, after_close.text
    assert after_close.json()["channel_mix"] == SETTINGS["channel_mix"]
    assert after_close.json()["seed"] == SETTINGS["seed"]
