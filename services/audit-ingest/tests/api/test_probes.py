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
