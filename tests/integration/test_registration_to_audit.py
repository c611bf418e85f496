"""Registration and audit-ingest together on real NATS JetStream and PostgreSQL: registration's
events become panel structures and plans; probes and corrections come out as audit.v1 events;
a redelivered event changes nothing and a message that is not an event is dead-lettered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient

from audit_builders import GOOD_MEASURES, answers_for
from baro_audit_ingest.main import create_app as create_audit_app
from baro_chassis.consumers import DEAD_LETTER_REASON
from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, Tokens, eventually, read_stream, settings_of
from baro_contracts import audit_v1
from baro_contracts.audit_v1 import Channel
from baro_registration.main import create_app as create_registration_app
from registration_builders import EDITION, registration_body

pytestmark = pytest.mark.integration


def plan_status(audit: TestClient, tokens: Tokens, registration_id: str) -> int:
    return audit.get(f"/editions/2027/plans/{registration_id}", headers=tokens.auditor).status_code


async def publish_raw(url: str, subject: str, payload: bytes, msg_id: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
    finally:
        await nc.close()


def test_registration_events_become_plans_and_probes_become_audit_events(
    settings_for: Settings, second_database_url: str, clock: FakeClock, tokens: Tokens
) -> None:
    audit_settings = settings_of("audit-ingest", second_database_url, settings_for.nats_url)
    with (
        TestClient(create_registration_app(settings_for, clock=clock)) as registration,
        TestClient(create_audit_app(audit_settings)) as audit,
    ):
        assert (
            registration.post(
                "/editions", json={**EDITION, "free_places": 1}, headers=tokens.admin
            ).status_code
            == 201
        )

        def register(number: int, **fields: Any) -> dict[str, Any]:
            response = registration.post(
                "/editions/2027/registrations",
                json=registration_body(number, **fields),
                headers=tokens.frontend,
            )
            assert response.status_code == 201, response.text
            clock.advance(minutes=1)
            return dict(response.json())

        paid = register(1, options={"physical_visit": True})
        granted = register(2, participation="free")
        switched = register(3, participation="free")
        declined = register(4, participation="free")
        annex = {"name": "Mairie annexe", "kind": "annex", "address": "2 rue Haute, 69000 Lyon"}
        assert (
            registration.post(
                f"/editions/2027/registrations/{paid['registration_id']}/sites",
                json=annex,
                headers=tokens.admin,
            ).status_code
            == 201
        )
        assert registration.post("/editions/2027/close", headers=tokens.admin).status_code == 200
        assert (
            registration.post(
                f"/editions/2027/registrations/{switched['registration_id']}/switch-to-paid",
                json={},
                headers=tokens.admin,
            ).status_code
            == 200
        )

        eventually(lambda: plan_status(audit, tokens, switched["registration_id"]) == 200)
        plans = {
            name: audit.get(f"/editions/2027/plans/{r['registration_id']}", headers=tokens.auditor)
            for name, r in {
                "paid": paid,
                "granted": granted,
                "switched": switched,
                "declined": declined,
            }.items()
        }
        assert plans["declined"].status_code == 409
        assert [len(plans[n].json()["probes"]) for n in ("paid", "granted", "switched")] == [
            14,
            13,
            13,
        ]
        paid_plan = plans["paid"].json()
        assert {p["site_name"] for p in paid_plan["probes"]} == {"Hôtel de ville", "Mairie annexe"}

        phone = next(p for p in paid_plan["probes"] if p["channel"] == "phone")
        probe = {
            "probe_id": "0b0c6c39-4d56-4d3c-9a73-4d3f7f0e2a11",
            "registration_id": paid["registration_id"],
            "site_id": phone["site_id"],
            "channel": "phone",
            "auditor_id": phone["auditor_id"],
            "performed_at": f"{phone['planned_on']}T10:30:00+02:00",
            "answers": answers_for(Channel.PHONE),
            "measures": GOOD_MEASURES[Channel.PHONE],
        }
        recorded = audit.post("/editions/2027/probes", json=probe, headers=tokens.auditor)
        assert recorded.status_code == 201, recorded.text
        changed_item = next(code for code, v in probe["answers"].items() if v is True)
        corrected = audit.post(
            f"/editions/2027/probes/{probe['probe_id']}/corrections",
            json={"answers": {changed_item: False}, "reason": "misread the checklist"},
            headers=tokens.admin,
        )
        assert corrected.status_code == 201, corrected.text

        messages = asyncio.run(read_stream(settings_for.nats_url, "AUDIT", expected=7))
        events = [json.loads(m.data) for m in messages]
        assert [e["event_type"].split(".")[-1] for e in events] == [
            "referential_published",
            "plan_issued",
            "plan_issued",
            "plan_issued",
            "referential_frozen",
            "probe_recorded",
            "probe_corrected",
        ]
        assert all(m.header["Nats-Msg-Id"] == e["event_id"] for m, e in zip(messages, events))
        published = audit_v1.ReferentialPublished.model_validate(events[0])
        assert len(published.items) == 133
        assert len(published.determinants) == 20
        recorded_event = audit_v1.ProbeRecorded.model_validate(events[5])
        assert recorded_event.answers == probe["answers"]
        assert recorded_event.measures.rings == 0
        assert recorded_event.slot == phone["slot"]
        correction = audit_v1.ProbeCorrected.model_validate(events[6])
        assert (correction.revision, correction.answers, correction.reason) == (
            2,
            {changed_item: False},
            "misread the checklist",
        )
        planned = {audit_v1.PlanIssued.model_validate(e).registration_id for e in events[1:4]}
        assert {str(r) for r in planned} == {
            paid["registration_id"],
            granted["registration_id"],
            switched["registration_id"],
        }

        # Registration's close again under a new message id, and a message that is no event.
        closed = next(
            m
            for m in asyncio.run(read_stream(settings_for.nats_url, "REGISTRATION", expected=1))
            if m.subject.endswith("registration_closed")
        )
        asyncio.run(
            publish_raw(settings_for.nats_url, closed.subject, closed.data, "replayed-close")
        )
        asyncio.run(
            publish_raw(
                settings_for.nats_url,
                "registration.v1.2027.structure_registered",
                b'{"event_type": "registration.v1.structure_registered"}',
                "broken-1",
            )
        )
        dead = asyncio.run(read_stream(settings_for.nats_url, "DEAD_LETTER", expected=1))
        assert (
            dead[0].subject == "deadletter.audit-ingest.registration.v1.2027.structure_registered"
        )
        assert "registration_id" in dead[0].header[DEAD_LETTER_REASON]
        # The replayed close was consumed before the broken message: nothing more on AUDIT.
        assert len(asyncio.run(read_stream(settings_for.nats_url, "AUDIT", expected=7))) == 7
        again = audit.get(f"/editions/2027/plans/{paid['registration_id']}", headers=tokens.auditor)
        assert again.json()["probes_recorded"] == 1
        assert [{**p, "probe_id": None} for p in again.json()["probes"]] == paid_plan["probes"]
