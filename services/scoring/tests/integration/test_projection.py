"""Registration and audit events in, over real NATS and PostgreSQL → the scores out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from baro_chassis.testing import Tokens
from scoring_builders import Events, publish_now, scores_when

pytestmark = pytest.mark.integration


def test_scores_follow_probes_and_their_corrections(
    client: TestClient, events: Events, nats_url: str, tokens: Tokens
) -> None:
    town = events.structure()
    phone = events.probe(
        town, "phone", {"PHO-ACC-01": True, "PHO-ACC-02": 4, "PHO-PRO-01": "partial"}, slot=1
    )
    email = events.probe(town, "email", {"EMA-INF-01": False, "EMA-PRO-01": "n/a"}, slot=2)
    publish_now(
        nats_url,
        events.edition_opened(),
        town,
        events.referential(),
        events.plan(town, "phone", "email"),
        phone,
        email,
    )
    scores = scores_when(client, tokens.admin, town.registration_id, probes=2)
    assert scores["channels"]["phone"]["exact"] == "62.5"
    assert scores["channels"]["email"]["exact"] == "0"
    assert scores["global"] == {"score": 31.3, "exact": "31.25"}
    assert scores["steps"]["access"]["exact"] == "66.66666666666666666666666666666667"
    assert scores["steps"]["access"]["score"] == 66.7
    assert scores["steps"]["processing"]["exact"] == "50"
    assert scores["determinants"]["D01"]["exact"] == "25"
    assert scores["determinants"]["D01"]["label"] == "Accessibility"
    assert scores["items"]["PHO-ACC-02"] == {
        "label": "item PHO-ACC-02",
        "score": 50.0,
        "exact": "50",
        "answers": 1,
    }
    assert scores["probes"]["complete"] is True

    listed = client.get("/editions/2027/scores", headers=tokens.admin).json()["structures"]
    assert [s["global"]["exact"] for s in listed] == ["31.25"]

    publish_now(nats_url, events.correction(email, answers={"EMA-PRO-01": True}))

    def corrected() -> bool:
        body = client.get(f"/editions/2027/scores/{town.registration_id}", headers=tokens.admin)
        return body.json()["global"]["exact"] == "43.75"

    from scoring_builders import eventually

    eventually(corrected)
    # The edition-wide views follow too (they re-read only the lines that changed).
    listed = client.get("/editions/2027/scores", headers=tokens.admin).json()["structures"]
    assert [s["global"]["exact"] for s in listed] == ["43.75"]


def test_a_message_that_is_not_a_contract_event_is_dead_lettered_with_its_reason(
    client: TestClient, events: Events, nats_url: str, tokens: Tokens
) -> None:
    import asyncio

    import nats

    from baro_chassis.testing import read_stream

    town = events.structure()
    publish_now(nats_url, events.edition_opened(), town, events.referential())

    async def send_garbage() -> None:
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().publish(
                "audit.v1.2027.probe_recorded", b'{"event_type": "audit.v1.probe_recorded"}'
            )
        finally:
            await nc.close()

    asyncio.run(send_garbage())
    (letter,) = asyncio.run(read_stream(nats_url, "DEAD_LETTER", 1))
    assert letter.subject == "deadletter.scoring-audit.audit.v1.2027.probe_recorded"
    reason = letter.headers["Baro-Dead-Letter-Reason"]
    assert "not a valid audit.v1.> contract event" in reason
    assert "probe_id" in reason  # names what is missing
    # What was accepted before is untouched, and later events still flow.
    probe = events.probe(town, "phone")
    publish_now(nats_url, events.plan(town, "phone"), probe)
    assert (
        scores_when(client, tokens.admin, town.registration_id, probes=1)["global"]["exact"]
        == "100"
    )
