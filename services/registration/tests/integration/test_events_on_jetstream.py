"""The service and its relay on real PostgreSQL and NATS: contract events read back with a
plain nats-py JetStream consumer."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, Tokens, read_stream
from baro_contracts.catalog import event_class
from baro_registration.main import create_app
from registration_builders import EDITION, registration_body

pytestmark = pytest.mark.integration


def test_every_state_change_reaches_jetstream_as_a_contract_event(
    settings_for: Settings, clock: FakeClock, tokens: Tokens
) -> None:
    with TestClient(create_app(settings_for, run_relay=True, clock=clock)) as client:
        assert (
            client.post(
                "/editions", json={**EDITION, "free_places": 1}, headers=tokens.admin
            ).status_code
            == 201
        )
        paid = client.post(
            "/editions/2027/registrations",
            json=registration_body(
                1,
                options={"physical_visit": True, "oral_restitution": True},
                certifications=["label_marianne"],
            ),
            headers=tokens.frontend,
        ).json()
        clock.advance(minutes=1)
        first_free = client.post(
            "/editions/2027/registrations",
            json=registration_body(
                2, participation="free", kind="france_services", population=None
            ),
            headers=tokens.frontend,
        ).json()
        clock.advance(minutes=1)
        second_free = client.post(
            "/editions/2027/registrations",
            json=registration_body(3, participation="free", population=60_000),
            headers=tokens.frontend,
        ).json()
        site = {"name": "Mairie annexe", "kind": "annex", "address": "2 rue Haute, 69000 Lyon"}
        assert (
            client.post(
                f"/editions/2027/registrations/{paid['registration_id']}/sites",
                json=site,
                headers=tokens.structure(paid["registration_id"]),
            ).status_code
            == 201
        )
        assert (
            client.post(
                f"/editions/2027/registrations/{paid['registration_id']}/order-form-signature",
                json={"signed_by": "Le maire"},
                headers=tokens.structure(paid["registration_id"]),
            ).status_code
            == 200
        )
        assert client.post("/editions/2027/close", headers=tokens.admin).status_code == 200
        assert (
            client.post(
                f"/editions/2027/registrations/{second_free['registration_id']}/switch-to-paid",
                json={},
                headers=tokens.admin,
            ).status_code
            == 200
        )

        messages = asyncio.run(read_stream(settings_for.nats_url, "REGISTRATION", expected=10))

    types = [m.headers["Baro-Event-Type"] for m in messages]
    assert types == [
        "registration.v1.edition_opened",
        "registration.v1.structure_registered",
        "registration.v1.structure_registered",
        "registration.v1.structure_registered",
        "registration.v1.site_added",
        "registration.v1.order_form_signed",
        "registration.v1.registration_closed",
        "registration.v1.free_place_decided",
        "registration.v1.free_place_decided",
        "registration.v1.switched_to_paid",
    ]
    events = [
        event_class(t).model_validate_json(m.data) for t, m in zip(types, messages, strict=True)
    ]
    for message, event in zip(messages, events, strict=True):
        assert message.headers["Nats-Msg-Id"] == event.event_id
        assert message.subject == event.subject
    positions = [int(e.event_id.split(":")[1]) for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)

    registered = events[1]
    assert registered.subject == "registration.v1.2027.structure_registered"
    body = json.loads(messages[1].data)
    assert body["registration_id"] == paid["registration_id"]
    assert body["participation"] == "paid"
    assert body["population"] == 12_000
    assert body["kind"] == "commune"
    assert body["category"] == "city_under_20k"
    assert body["options"] == {
        "physical_visit": True,
        "social_listening": False,
        "oral_restitution": True,
    }
    assert body["certifications"] == ["label_marianne"]
    assert body["sites"][0]["address"] == "1 place de la Mairie, 69000 Lyon"
    assert "contacts" not in body, "personal data stays in the registration service"

    decided = {str(e.registration_id): e for e in events[7:9]}
    assert decided[first_free["registration_id"]].outcome == "granted"
    assert decided[second_free["registration_id"]].outcome == "declined"
    closed = events[6]
    assert closed.panel_size == 2
    assert (closed.granted_count, closed.declined_count) == (1, 1)
    assert (closed.granted, closed.declined) == ([], []), "the decisions are their own events"
    assert events[9].status == "in_panel"
    assert str(events[9].registration_id) == second_free["registration_id"]
