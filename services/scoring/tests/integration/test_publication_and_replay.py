"""Publication freezes an edition's results under a fingerprint; a replay from the
retained streams reproduces it, and touches the live read model only when asked to swap."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import asyncpg
import nats
import pytest
from fastapi.testclient import TestClient

from baro_chassis.settings import Settings
from baro_chassis.testing import Tokens, read_stream
from baro_contracts.scoring_v1 import RESULTS_BUCKET, ResultsPublished, results_object_name
from baro_scoring.documents import keep_published_documents
from baro_scoring.projections import LIVE_SCHEMA, open_pool
from baro_scoring.replay import ReplayReport, replay
from scoring_builders import (
    HAND_ITEMS,
    YES_NO,
    Events,
    _item,
    campaign,
    eventually,
    last_positions,
    publish_now,
    scores_when,
)

pytestmark = pytest.mark.integration


async def bucket_object(nats_url: str, name: str) -> bytes:
    nc = await nats.connect(nats_url)
    try:
        found = await (await nc.jetstream().object_store(RESULTS_BUCKET)).get(name)
        return found.data or b""
    finally:
        await nc.close()


async def restore_documents(settings: Settings, nats_url: str, deleted: str) -> int:
    nc = await nats.connect(nats_url)
    pool = await open_pool(settings.database_url, LIVE_SCHEMA)
    try:
        await (await nc.jetstream().object_store(RESULTS_BUCKET)).delete(deleted)
        return await keep_published_documents(pool, nc.jetstream())
    finally:
        await pool.close()
        await nc.close()


def replayed(settings: Settings, edition: int = 2027, swap: bool = False) -> ReplayReport:
    return asyncio.run(replay(settings, edition, swap=swap, progress=None))


def query(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def load(client: TestClient, events: Events, nats_url: str, tokens: Tokens) -> list[Any]:
    published, structures = campaign(events)
    publish_now(nats_url, *published)
    for structure in structures:
        scores_when(client, tokens.admin, structure.registration_id, probes=2)
    return [*structures, last_positions(published)]


def global_of(client: TestClient, tokens: Tokens, structure: Any, year: int = 2027) -> str:
    response = client.get(
        f"/editions/{year}/scores/{structure.registration_id}", headers=tokens.admin
    )
    return str(response.json()["global"]["exact"])


def test_publication_freezes_the_results_and_a_replay_reproduces_the_fingerprint(
    client: TestClient, events: Events, nats_url: str, tokens: Tokens, scoring_settings: Settings
) -> None:
    _, brest, _, last = load(client, events, nats_url, tokens)
    published = client.post("/editions/2027/publish", headers=tokens.admin)
    assert published.status_code == 201, published.text
    body = published.json()
    assert len(body["fingerprint"]) == 64
    assert body["included_through"] == last
    assert [(w["structure_name"], w["joint"]) for w in body["laureates"]] == [
        ("Lyon", False),
        ("Vire", False),
    ]
    # The publication is an event on the SCORING stream, for reporting and auditors.
    (message,) = asyncio.run(read_stream(nats_url, "SCORING", 1))
    event = ResultsPublished.model_validate_json(message.data)
    assert event.fingerprint == body["fingerprint"]
    assert message.headers["Nats-Msg-Id"] == event.event_id
    # The document itself is in the results bucket, under its edition and fingerprint.
    name = results_object_name(2027, event.fingerprint)
    document = asyncio.run(bucket_object(nats_url, name))
    assert hashlib.sha256(document).hexdigest() == event.fingerprint
    # Lost from the bucket (a crash before the put, a bucket recreated): put back at start.
    assert asyncio.run(restore_documents(scoring_settings, nats_url, name)) == 1
    assert asyncio.run(bucket_object(nats_url, name)) == document

    # Published results are final: publishing again answers the publication as made.
    again = client.post("/editions/2027/publish", headers=tokens.admin)
    assert (again.status_code, again.json()) == (201, body)

    # A correction arriving after publication is kept, but the results stay as published.
    brest_before = global_of(client, tokens, brest)
    late = events.probe(brest, "website", slot=3)
    publish_now(nats_url, late)
    eventually(
        lambda: client.get("/editions/2027/publication").json()["events_after_publication"] == 1
    )
    assert global_of(client, tokens, brest) == brest_before
    late_retry = client.post("/editions/2027/publish", headers=tokens.admin)
    assert (late_retry.status_code, late_retry.json()) == (201, body)

    live_before = query(
        scoring_settings, "SELECT registration_id, computed_at FROM live.structure_results"
    )
    outcome = replayed(scoring_settings)
    assert outcome.fingerprint == body["fingerprint"]
    assert outcome.matches is True
    assert outcome.held == 1
    assert outcome.structures == 3
    assert outcome.probe_events == 7
    # Without --swap, the live read model is untouched; the rebuild is in its own schema.
    assert (
        query(scoring_settings, "SELECT registration_id, computed_at FROM live.structure_results")
        == live_before
    )
    rebuilt = query(scoring_settings, f'SELECT count(*) FROM "{outcome.schema}".structure_results')
    assert rebuilt[0][0] == 3
    # The rebuilt canonical document is the published one, byte for byte: its SHA-256,
    # taken by PostgreSQL, is the fingerprint.
    (document,) = query(
        scoring_settings,
        "SELECT fingerprint, document, "
        "encode(sha256(convert_to(document, 'UTF8')), 'hex') AS sha256 "
        f'FROM "{outcome.schema}".rebuilt_document',
    )
    assert document["fingerprint"] == document["sha256"] == body["fingerprint"]
    (published,) = query(
        scoring_settings, "SELECT document::text FROM live.publications WHERE edition = 2027"
    )
    assert document["document"] == published["document"]
    assert len(json.loads(document["document"])["structures"]) == 3


def test_a_replay_with_swap_repairs_the_live_read_model(
    client: TestClient, events: Events, nats_url: str, tokens: Tokens, scoring_settings: Settings
) -> None:
    lyon, *_ = load(client, events, nats_url, tokens)
    expected = global_of(client, tokens, lyon)
    ranked = client.get("/editions/2027/rankings", headers=tokens.admin).json()
    # A damaged read model: one structure's audit facts lost, its line wrong.
    query(
        scoring_settings,
        "DELETE FROM live.facts WHERE registration_id = $1 AND event_type LIKE 'audit.%'",
        lyon.registration_id,
    )
    query(
        scoring_settings,
        "WITH bumped AS (UPDATE live.edition_revisions SET revision = revision + 1 "
        "RETURNING revision) UPDATE live.structure_results "
        "SET line = jsonb_set(line::jsonb, '{global}', '\"1\"')::json, "
        "revision = (SELECT revision FROM bumped) WHERE registration_id = $1",
        lyon.registration_id,
    )
    scores = client.get(f"/editions/2027/scores/{lyon.registration_id}", headers=tokens.admin)
    assert scores.json()["global"] is None
    assert client.get("/editions/2027/rankings", headers=tokens.admin).json() != ranked

    outcome = replayed(scoring_settings, swap=True)
    assert outcome.swapped
    assert outcome.matches is None  # not published yet
    assert global_of(client, tokens, lyon) == expected
    assert client.get("/editions/2027/rankings", headers=tokens.admin).json() == ranked


def test_a_later_editions_referential_leaves_an_earlier_replay_unchanged(
    client: TestClient, events: Events, nats_url: str, tokens: Tokens, scoring_settings: Settings
) -> None:
    lyon, *_ = load(client, events, nats_url, tokens)
    fingerprint = client.post("/editions/2027/publish", headers=tokens.admin).json()["fingerprint"]

    # 2028 reweights the phone access items and adds one: 2027 must not move.
    later = Events(2028)
    heavier = [
        item.model_copy(update={"weight": item.weight * 5}) if item.code == "PHO-ACC-01" else item
        for item in HAND_ITEMS
    ] + [_item("PHO-INF-01", "phone", "information", "D01", YES_NO)]
    town = later.structure("Lyon")
    publish_now(
        nats_url,
        later.edition_opened(),
        town,
        later.referential(items=heavier),
        later.plan(town, "phone"),
        later.probe(town, "phone", {"PHO-ACC-01": False, "PHO-ACC-02": 2, "PHO-PRO-01": "none"}),
    )
    scores = scores_when(client, tokens.admin, town.registration_id, probes=1, year=2028)
    assert scores["global"]["exact"] == "25"  # (5*0 + 2*1 + 1*0) / (5 + 2 + 1)

    # The replay compares with the publication on the SCORING stream: once the relay put it.
    asyncio.run(read_stream(nats_url, "SCORING", 1, wait_seconds=60))
    outcome = replayed(scoring_settings, 2027)
    assert outcome.fingerprint == fingerprint
    assert outcome.matches is True
    assert global_of(client, tokens, lyon) == "100"


def test_duplicates_under_other_message_ids_and_redelivered_facts_change_nothing(
    client: TestClient, events: Events, nats_url: str, tokens: Tokens, scoring_settings: Settings
) -> None:
    published, structures = campaign(events)
    publish_now(nats_url, *published)
    for structure in structures:
        scores_when(client, tokens.admin, structure.registration_id, probes=2)
    before = client.get("/editions/2027/scores", headers=tokens.admin).json()
    kpis_before = client.get("/editions/2027/kpis", headers=tokens.admin).json()

    # The same events again without Nats-Msg-Id: JetStream stores them as new messages.
    publish_now(nats_url, *published, msg_id=False)

    def consumed_all() -> bool:
        rows = query(
            scoring_settings, "SELECT consumer, stream_sequence FROM live.consumer_positions"
        )
        positions = {row["consumer"]: row["stream_sequence"] for row in rows}
        registration = sum(1 for e in published if e.event_id.startswith("registration:"))
        audit = len(published) - registration
        # Each stream holds every event twice now.
        return positions == {"scoring-registration": 2 * registration, "scoring-audit": 2 * audit}

    eventually(consumed_all)
    assert client.get("/editions/2027/scores", headers=tokens.admin).json() == before
    assert client.get("/editions/2027/kpis", headers=tokens.admin).json() == kpis_before
    facts = query(scoring_settings, "SELECT count(*) FROM live.facts")
    assert facts[0][0] == len(published)
    outcome = replayed(scoring_settings)
    assert outcome.events == 2 * len(published)
    assert json.dumps(before, sort_keys=True) == json.dumps(
        client.get("/editions/2027/scores", headers=tokens.admin).json(), sort_keys=True
    )
