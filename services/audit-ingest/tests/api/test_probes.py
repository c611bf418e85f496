"""Recording probes: accepted, idempotent, and every refusal leaves what is stored unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit_builders import (
    assert_refused,
    probe_body,
)
from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel

pytestmark = pytest.mark.usefixtures("panel")


def plan_of(
    client: TestClient, tokens: Tokens, registration: reg.StructureRegistered
) -> dict[str, Any]:
    response = client.get(
        f"/editions/2027/plans/{registration.registration_id}", headers=tokens.auditor
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def post(client: TestClient, tokens: Tokens, body: dict[str, Any]) -> Any:
    return client.post("/editions/2027/probes", json=body, headers=tokens.auditor)


def test_a_valid_probe_is_recorded_and_fills_a_slot_of_its_plan(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    body = probe_body(panel[0], Channel.PHONE)
    response = post(client, tokens, body)
    assert response.status_code == 201, response.text
    probe = response.json()
    assert probe["probe_id"] == body["probe_id"]
    assert probe["revision"] == 1
    assert probe["answers"] == body["answers"]
    assert probe["referential_version"] == 1
    assert response.headers["Location"] == f"/editions/2027/probes/{body['probe_id']}"
    plan = plan_of(client, tokens, panel[0])
    filled = [p for p in plan["probes"] if p["probe_id"] == body["probe_id"]]
    assert len(filled) == 1
    assert filled[0]["channel"] == "phone"
    assert plan["probes_recorded"] == 1


def test_the_same_probe_again_answers_200_with_the_original(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    body = probe_body(panel[0], Channel.EMAIL)
    first = post(client, tokens, body)
    again = post(client, tokens, body)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert plan_of(client, tokens, panel[0])["probes_recorded"] == 1


def test_the_same_probe_id_with_another_payload_is_a_conflict(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    body = probe_body(panel[0], Channel.EMAIL)
    original = post(client, tokens, body).json()
    changed = {**body, "auditor_id": "MC-999"}
    assert_refused(post(client, tokens, changed), 409, "already recorded", "correction")
    stored = client.get(f"/editions/2027/probes/{body['probe_id']}", headers=tokens.auditor)
    assert stored.json() == original


def test_probes_of_one_structure_committed_together_take_distinct_slots(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    from baro_audit_ingest.schemas import ProbeIn
    from baro_audit_ingest.writer import ProbeWriter

    application = client.app.state.application  # type: ignore[attr-defined]
    assert post(client, tokens, probe_body(panel[0], Channel.EMAIL)).status_code == 201  # freezes
    writer = ProbeWriter(application)
    futures = [  # queued before the writer starts: one batch, one commit
        writer.submit(
            2027, ProbeIn.model_validate(probe_body(panel[0], Channel.PHONE)).submission(), "t", {}
        )
        for _ in range(6)
    ]
    writer.start()
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(timeout=30)[0].slot)
        except Exception as refusal:
            outcomes.append(type(refusal).__name__)
    writer.stop()
    slots = [o for o in outcomes if isinstance(o, int)]
    assert len(set(slots)) == len(slots) == 4
    assert outcomes.count("Conflict") == 2
    assert writer.batches == 1
    plan = plan_of(client, tokens, panel[0])
    assert sorted(
        p["slot"] for p in plan["probes"] if p["probe_id"] and p["channel"] == "phone"
    ) == sorted(slots)


def test_a_batch_records_each_probe_on_its_own_and_reports_each_status(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    good = probe_body(panel[0], Channel.PHONE)
    other = probe_body(panel[0], Channel.EMAIL)
    not_a_probe = {**probe_body(panel[0], Channel.MAIL), "performed_at": "yesterday"}
    unknown_item = probe_body(panel[0], Channel.MAIL, answers={"XXX-ACC-01": True})
    response = client.post(
        "/editions/2027/probes/batch",
        json={"probes": [good, not_a_probe, other, unknown_item, good]},
        headers=tokens.auditor,
    )
    assert response.status_code == 200, response.text
    batch = response.json()
    assert [r["status"] for r in batch["results"]] == [201, 422, 201, 422, 200]
    assert (batch["recorded"], batch["already_present"], batch["refused"]) == (2, 1, 2)
    assert batch["results"][1]["error"]["errors"][0]["field"] == "performed_at"
    assert "XXX-ACC-01" in batch["results"][3]["error"]["message"]
    assert plan_of(client, tokens, panel[0])["probes_recorded"] == 2
    again = client.post(
        "/editions/2027/probes/batch", json={"probes": [good, other]}, headers=tokens.auditor
    )
    assert [r["status"] for r in again.json()["results"]] == [200, 200]
    assert plan_of(client, tokens, panel[0])["probes_recorded"] == 2


def test_a_batch_needs_the_auditor_role_and_at_most_500_probes(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    body = {"probes": [probe_body(panel[0], Channel.PHONE)]}
    assert (
        client.post("/editions/2027/probes/batch", json=body, headers=tokens.admin).status_code
        == 403
    )
    too_many = {"probes": [probe_body(panel[0], Channel.PHONE) for _ in range(501)]}
    refused = client.post("/editions/2027/probes/batch", json=too_many, headers=tokens.auditor)
    assert refused.status_code == 422
    assert plan_of(client, tokens, panel[0])["probes_recorded"] == 0


def test_a_stored_probe_sent_again_in_a_batch_does_not_crowd_out_the_others(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    from baro_audit_ingest.schemas import ProbeIn
    from baro_audit_ingest.writer import ProbeWriter

    application = client.app.state.application  # type: ignore[attr-defined]
    stored = probe_body(panel[0], Channel.EMAIL)
    assert post(client, tokens, stored).status_code == 201  # 1 of the plan's 3 emails
    others = [probe_body(panel[0], Channel.EMAIL) for _ in range(2)]
    writer = ProbeWriter(application)
    futures = [  # one batch: the stored probe again, then the last two emails of the plan
        writer.submit(2027, ProbeIn.model_validate(body).submission(), "t", {})
        for body in (stored, *others)
    ]
    writer.start()
    outcomes = [future.result(timeout=30)[1] for future in futures]
    writer.stop()
    assert outcomes == [False, True, True]
    assert plan_of(client, tokens, panel[0])["probes_recorded"] == 3
