"""The read model in PostgreSQL (asyncpg), in one schema: `live` for the service, a fresh
`replay_<year>_<time>` schema for a replay.

- `facts`: every registration.v1 and audit.v1 event received, once (keyed by its event id),
  with `held` set on an event that arrived after its edition's results were published.
- `structure_results`: each structure's line (global, channel and step scores, progress,
  KPI counts: what rankings and syntheses need), recomputed from its facts whenever one of
  them arrives. A structure's full detail (determinants, items) is computed from its facts
  when asked for: writing it on every probe would cost more than reading it.
- `edition_revisions`: a counter per edition, moved by every change to its results, so a
  reader can keep the edition's summary until it moves.
- `consumer_positions`: how far each durable consumer got in its stream, written in the same
  transaction as the facts it applied.
- `publications`: each published edition's frozen results and fingerprint.

Writers of one edition take its advisory lock first, so two consumers (or a publication)
never recompute a structure from a stale view.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias
from uuid import UUID

import asyncpg

from baro_chassis.postgres import create_pool, create_tables
from baro_contracts.base import ContractEvent
from baro_scoring.document import ResultsDocument, line_document, structure_document
from baro_scoring.facts import EditionFacts, Fact, parse_fact
from baro_scoring.figures import StructureLine
from baro_scoring.results import structure_result
from baro_scoring.rules import METHOD

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

LIVE_SCHEMA = "live"
EDITION_LOCK = 7301
REFERENTIAL = "audit.v1.referential_published"

SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS facts (
    event_id text PRIMARY KEY,
    producer text NOT NULL,
    position bigint NOT NULL,
    edition integer NOT NULL,
    event_type text NOT NULL,
    registration_id uuid,
    body json NOT NULL,
    held boolean NOT NULL DEFAULT false,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS facts_by_structure ON facts (edition, registration_id);
CREATE TABLE IF NOT EXISTS structure_results (
    edition integer NOT NULL,
    registration_id uuid NOT NULL,
    line json NOT NULL,
    revision bigint NOT NULL DEFAULT 0,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (edition, registration_id)
);
CREATE TABLE IF NOT EXISTS edition_revisions (
    edition integer PRIMARY KEY,
    revision bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_positions (
    consumer text PRIMARY KEY,
    stream_sequence bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS publications (
    edition integer PRIMARY KEY,
    fingerprint text NOT NULL,
    method text NOT NULL,
    included_through jsonb NOT NULL,
    published_at timestamptz NOT NULL,
    published_by text NOT NULL,
    document json NOT NULL
);
"""


async def create_schema(conn: Connection, schema: str) -> None:
    await create_tables(
        conn,
        f'CREATE SCHEMA IF NOT EXISTS "{schema}"',
        f'SET search_path TO "{schema}"',
        SCHEMA_DDL,
    )


async def open_pool(database_url: str, schema: str) -> asyncpg.Pool:
    """A pool whose connections read and write `schema`, created if needed."""
    conn = await asyncpg.connect(database_url)
    try:
        await create_schema(conn, schema)
    finally:
        await conn.close()
    return await create_pool(database_url, server_settings={"search_path": schema})


async def lock_editions(conn: Connection, editions: Iterable[int]) -> None:
    for edition in sorted(set(editions)):
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", EDITION_LOCK, edition)


async def published_editions(conn: Connection, editions: Iterable[int]) -> set[int]:
    rows = await conn.fetch(
        "SELECT edition FROM publications WHERE edition = ANY($1::int[])", list(set(editions))
    )
    return {row["edition"] for row in rows}


INSERT_FACTS = """
INSERT INTO facts (event_id, producer, position, edition, event_type, registration_id, body, held)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::text[], $6::uuid[],
                     $7::json[], $8::bool[])
ON CONFLICT (event_id) DO NOTHING
RETURNING edition, event_type, registration_id, held
"""


async def insert_facts(
    conn: Connection, facts: Sequence[Fact], held_editions: set[int]
) -> list[asyncpg.Record]:
    """Store the facts not stored yet; the rows of those that were new."""
    rows = [fact.row(held=fact.event.edition in held_editions) for fact in facts]
    return await conn.fetch(INSERT_FACTS, *(list(column) for column in zip(*rows, strict=True)))


FACTS_PAGE = 2000


async def load_edition_facts(
    conn: Connection, edition: int, registration_ids: Iterable[UUID] | None = None
) -> EditionFacts:
    """The edition's facts (not held): of those structures (and the referentials), or all.

    Read through a cursor, a page at a time, so that a national edition's stored bodies
    (~0.6 GB at 40,000 structures) are never all in memory beside the facts made of them.
    """
    args: list[Any]
    if registration_ids is None:
        query, args = (
            "SELECT event_type, body FROM facts WHERE edition = $1 AND NOT held",
            [edition],
        )
    else:
        query, args = (
            "SELECT event_type, body FROM facts WHERE edition = $1 AND NOT held "
            "AND (registration_id = ANY($2::uuid[]) OR event_type = $3)",
            [edition, list(registration_ids), REFERENTIAL],
        )
    facts = EditionFacts(edition)
    async with conn.transaction():  # a cursor lives in a transaction (a savepoint if nested)
        async for row in conn.cursor(query, *args, prefetch=FACTS_PAGE):
            if row["event_type"] == REFERENTIAL:
                facts.add(_referential(row["body"]))
            else:
                facts.add(parse_fact(row["body"], event_type=row["event_type"]).event)
    return facts


@functools.lru_cache(maxsize=16)
def _referential(body: str) -> ContractEvent:
    """A stored referential, parsed once: every batch of the live consumers loads it again
    (a referential of 400 items takes milliseconds to parse; a fact never changes)."""
    return parse_fact(body, event_type=REFERENTIAL).event


UPSERT_RESULTS = """
INSERT INTO structure_results (edition, registration_id, line, revision, computed_at)
SELECT $1, *, $4, now() FROM unnest($2::uuid[], $3::json[])
ON CONFLICT (edition, registration_id) DO UPDATE
SET line = EXCLUDED.line, revision = EXCLUDED.revision, computed_at = EXCLUDED.computed_at
"""


async def write_results(conn: Connection, edition: int, lines: Sequence[dict[str, Any]]) -> None:
    """Store the structures' lines (their `line_document()`)."""
    await conn.execute(
        UPSERT_RESULTS,
        edition,
        [UUID(line["registration_id"]) for line in lines],
        [json.dumps(line) for line in lines],
        await bump_revision(conn, edition),
    )


async def bump_revision(conn: Connection, edition: int) -> int:
    """Move the edition's results revision on; returns the new one."""
    value = await conn.fetchval(
        "INSERT INTO edition_revisions (edition, revision) VALUES ($1, 1) ON CONFLICT (edition) "
        "DO UPDATE SET revision = edition_revisions.revision + 1 RETURNING revision",
        edition,
    )
    return int(value)


async def revision(conn: Connection, edition: int) -> int | None:
    """The edition's results revision; None before any result."""
    value = await conn.fetchval(
        "SELECT revision FROM edition_revisions WHERE edition = $1", edition
    )
    return int(value) if value is not None else None


def _lines_of(facts: EditionFacts, registration_ids: set[UUID] | None) -> list[dict[str, Any]]:
    wanted = sorted(facts.structures) if registration_ids is None else sorted(registration_ids)
    return [
        line_document(structure_document(structure_result(facts, facts.structures[r])))
        for r in wanted
        if r in facts.structures
    ]


async def recompute(conn: Connection, edition: int, registration_ids: set[UUID] | None) -> None:
    """Recompute those structures' scores (all the edition's with None) from their facts.
    The computing runs in a worker thread: the event loop keeps answering requests."""
    facts = await load_edition_facts(conn, edition, registration_ids)
    lines = await asyncio.to_thread(_lines_of, facts, registration_ids)
    if lines:
        await write_results(conn, edition, lines)


async def apply_facts(
    conn: Connection,
    facts: Sequence[Fact],
    consumer: str,
    stream_sequence: int,
) -> int:
    """Store the facts, recompute what they change, record the consumer's position: all in
    the caller's transaction. Returns how many facts were new."""
    editions = {fact.event.edition for fact in facts}
    await lock_editions(conn, editions)
    held = await published_editions(conn, editions)
    new = await insert_facts(conn, facts, held) if facts else []
    # A new referential may change any structure of its edition; other facts, their own.
    whole: set[int] = set()
    some: dict[int, set[UUID]] = {}
    for row in new:
        if row["held"]:
            continue
        if row["event_type"] == REFERENTIAL:
            whole.add(row["edition"])
        elif row["registration_id"] is not None:
            some.setdefault(row["edition"], set()).add(row["registration_id"])
    for edition in sorted(whole | some.keys()):
        await recompute(conn, edition, None if edition in whole else some[edition])
    await conn.execute(
        "INSERT INTO consumer_positions (consumer, stream_sequence) VALUES ($1, $2) "
        "ON CONFLICT (consumer) DO UPDATE SET updated_at = now(), "
        "stream_sequence = GREATEST(consumer_positions.stream_sequence, EXCLUDED.stream_sequence)",
        consumer,
        stream_sequence,
    )
    return len(new)


async def lines(conn: Connection, edition: int, after: int = -1) -> list[StructureLine]:
    """The edition's structure lines (written after that results revision)."""
    rows = await conn.fetch(
        "SELECT line FROM structure_results WHERE edition = $1 AND revision > $2",
        edition,
        after,
    )
    return [StructureLine.from_document(json.loads(row["line"])) for row in rows]


async def line_count(conn: Connection, edition: int) -> int:
    count = await conn.fetchval(
        "SELECT count(*) FROM structure_results WHERE edition = $1", edition
    )
    return int(count)


async def structure_results_document(
    conn: Connection, edition: int, registration_id: UUID
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The structure's full results document, computed from its facts now, and the labels
    of determinants and items (code → label) from the edition's latest referential."""
    facts = await load_edition_facts(conn, edition, [registration_id])
    structure = facts.structures.get(registration_id)
    if structure is None:
        return None
    labels: dict[str, str] = {}
    if facts.referentials:
        referential = facts.referentials[max(facts.referentials)]
        labels = {d.code: d.label for d in referential.determinants}
        labels.update({i.code: i.label for i in referential.items})
    return structure_document(structure_result(facts, structure)), labels


async def edition_known(conn: Connection, edition: int) -> bool:
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT 1 FROM facts WHERE edition = $1)", edition)
    )


async def included_through(conn: Connection, edition: int) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT producer, max(position) AS position FROM facts "
        "WHERE edition = $1 AND NOT held GROUP BY producer ORDER BY producer",
        edition,
    )
    return {row["producer"]: row["position"] for row in rows}


async def record_publication(
    conn: Connection,
    frozen: ResultsDocument,
    through: Mapping[str, int],
    published_at: datetime,
    published_by: str,
) -> None:
    await conn.execute(
        "INSERT INTO publications (edition, fingerprint, method, included_through, "
        "published_at, published_by, document) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        frozen.edition,
        frozen.fingerprint,
        METHOD,
        json.dumps(dict(through)),
        published_at,
        published_by,
        frozen.text,
    )


async def publication(conn: Connection, edition: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT edition, fingerprint, method, included_through, published_at, published_by "
        "FROM publications WHERE edition = $1",
        edition,
    )


async def held_facts(conn: Connection, edition: int) -> int:
    """Facts of a published edition that arrived after its publication."""
    count = await conn.fetchval("SELECT count(*) FROM facts WHERE edition = $1 AND held", edition)
    return int(count)
