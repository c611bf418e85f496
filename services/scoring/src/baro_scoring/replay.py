"""`baro replay scoring --edition YEAR`: rebuild an edition's results from the retained
streams into a fresh schema, print their fingerprint and whether it matches the published one.

1. The edition's `results_published` event (if any) gives the published fingerprint and the
   last position of each producer's log it included; later events are held out, as live.
2. One worker process per core is forked (`partitions.py`). Every registration.v1 and
   audit.v1 message of the edition is read in stream order (the messages there when the
   replay starts, through nats-py: `edition_stream.py`) and sent, as it is read, to the
   worker of the structure it is about.
3. Each worker parses its events with the contracts as they come (what is not a contract
   event is refused, as the live consumers dead-letter it), then computes its structures by
   the same functions the live projection and the publication use, and hands them back in
   batches.
   Each batch is written into `replay_<year>_<time>` as it comes (each structure's line and
   canonical text; the facts too when swapping) and its texts hashed in registration id
   order; the edition's figures, made from all the lines, finish the fingerprint. The view
   `rebuilt_document` gives the canonical document it is the hash of.
4. Only `--swap` touches the live read model: under the edition's lock, the live facts gain
   the replay's, and the edition's structures are recomputed from them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import asyncpg
from nats.aio.msg import Msg
from tqdm import tqdm

from baro_chassis.nats import connect
from baro_chassis.settings import Settings
from baro_contracts.scoring_v1 import ResultsPublished
from baro_scoring.document import ResultsDocument, ResultsText, line_of
from baro_scoring.edition_stream import edition_size, published_results, read_edition
from baro_scoring.figures import edition_figures
from baro_scoring.partitions import PartitionOutput, Workers, registration_of, worker_count
from baro_scoring.projections import (
    LIVE_SCHEMA,
    Connection,
    bump_revision,
    create_schema,
    lock_editions,
    publication,
    recompute,
    record_publication,
)

REBUILT_DDL = """
CREATE TABLE rebuilt_structures (
    edition integer NOT NULL,
    registration_id uuid NOT NULL,
    document text NOT NULL,
    PRIMARY KEY (edition, registration_id)
);
CREATE TABLE rebuilt_results (
    edition integer PRIMARY KEY,
    fingerprint text NOT NULL,
    document_head text NOT NULL,
    document_tail text NOT NULL,
    rebuilt_at timestamptz NOT NULL DEFAULT now()
);
-- Stored as they are: compressing megabytes would take longer than writing them.
ALTER TABLE rebuilt_structures ALTER COLUMN document SET STORAGE EXTERNAL;
-- The canonical results document, whose SHA-256 is the fingerprint: the structures' texts
-- in registration id order between the head and the tail (the figures).
CREATE VIEW rebuilt_document AS
SELECT r.edition, r.fingerprint,
       r.document_head
       || coalesce((SELECT string_agg(s.document, ',' ORDER BY s.registration_id)
                    FROM rebuilt_structures s WHERE s.edition = r.edition), '')
       || r.document_tail AS document
FROM rebuilt_results r;
-- A replay's schema is a rebuild that can be made again from the streams: its tables skip
-- the write-ahead log (a crash empties them; --swap copies into the logged live tables).
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
        EXECUTE format('ALTER TABLE %I SET UNLOGGED', t.tablename);
    END LOOP;
END $$;
"""
FACT_COLUMNS = [
    "event_id",
    "producer",
    "position",
    "edition",
    "event_type",
    "registration_id",
    "body",
    "held",
]


@dataclass
class ReplayReport:
    edition: int
    schema: str
    events: int = 0
    probe_events: int = 0
    refused: list[str] = field(default_factory=list)
    held: int = 0
    structures: int = 0
    fingerprint: str = ""
    published: ResultsPublished | None = None
    read_seconds: float = 0.0
    """Until every message was read and sent to the workers."""
    seconds: float = 0.0
    swapped: bool = False
    workers: int = 1

    @property
    def matches(self) -> bool | None:
        return None if self.published is None else self.published.fingerprint == self.fingerprint


class InOrder:
    """The partitions' texts added to the results text in partition order (so in
    registration id order), whichever partition's batch comes first."""

    def __init__(self, text: ResultsText, partitions: int) -> None:
        self.text = text
        self.waiting: list[list[list[str]]] = [[] for _ in range(partitions)]
        self.finished = [False] * partitions
        self.current = 0

    def add(self, index: int, batch: PartitionOutput) -> None:
        if batch.texts:
            self.waiting[index].append(batch.texts)
        else:  # a partition's last batch: what it counted
            self.finished[index] = True
        while self.current < len(self.waiting):
            for texts in self.waiting[self.current]:
                for text in texts:
                    self.text.add(text)
            self.waiting[self.current] = []
            if not self.finished[self.current]:
                break
            self.current += 1


async def write_rebuilt(
    conn: Connection, edition: int, workers: Workers, report: ReplayReport, *, keep_text: bool
) -> ResultsDocument:
    """The partitions' batches stored as they come (their structures' lines and canonical
    texts; the facts, when swapping) and hashed in order, then the edition's figures made
    from all of them and the fingerprint finished, in one transaction, into the fresh schema
    the connection's search path names."""
    batches = workers.batches()
    lines: list[dict[str, Any]] = []
    text = ResultsText(edition, keep=keep_text)
    in_order = InOrder(text, workers.workers)
    async with conn.transaction():
        revision = await bump_revision(conn, edition)
        # The next batch is awaited in a thread while this one is written.
        while (received := await asyncio.to_thread(next, batches, None)) is not None:
            index, batch = received
            report.probe_events += batch.probe_events
            report.refused += batch.refused
            report.held += batch.held
            if batch.rows:
                await conn.copy_records_to_table("facts", records=batch.rows, columns=FACT_COLUMNS)
            if batch.lines:
                ids = [line["registration_id"] for line in batch.lines]
                await conn.copy_records_to_table(
                    "structure_results",
                    records=[
                        (edition, id_, json.dumps(line), revision)
                        for id_, line in zip(ids, batch.lines, strict=True)
                    ],
                    columns=["edition", "registration_id", "line", "revision"],
                )
                await conn.copy_records_to_table(
                    "rebuilt_structures",
                    records=[(edition, id_, t) for id_, t in zip(ids, batch.texts, strict=True)],
                    columns=["edition", "registration_id", "document"],
                )
                lines += batch.lines
            in_order.add(index, batch)
        lines.sort(key=lambda line: str(line["registration_id"]))
        figures = edition_figures(edition, map(line_of, lines))
        fingerprint = text.finish(figures)
        await conn.execute(
            "INSERT INTO rebuilt_results (edition, fingerprint, document_head, document_tail) "
            "VALUES ($1, $2, $3, $4)",
            edition,
            fingerprint,
            text.head,
            text.tail,
        )
    return ResultsDocument(edition, fingerprint, figures, lines, text.text if keep_text else "")


async def swap_into_live(
    conn: Connection, schema: str, edition: int, frozen: ResultsDocument, outcome: ReplayReport
) -> None:
    """The live read model takes the replay's facts (keeping any that arrived since) and
    recomputes the edition from them, all under the edition's lock."""
    await conn.execute(f'SET search_path TO "{LIVE_SCHEMA}"')
    async with conn.transaction():
        await lock_editions(conn, [edition])
        columns = ", ".join(FACT_COLUMNS)
        await conn.execute(
            f"INSERT INTO facts ({columns}) "  # noqa: S608 - the schema name is ours
            f'SELECT {columns} FROM "{schema}".facts '
            "ON CONFLICT (event_id) DO UPDATE SET held = EXCLUDED.held"
        )
        await conn.execute("DELETE FROM structure_results WHERE edition = $1", edition)
        await bump_revision(conn, edition)
        await recompute(conn, edition, None)
        published = outcome.published
        if published is not None and await publication(conn, edition) is None and outcome.matches:
            await record_publication(
                conn,
                frozen,
                published.included_through,
                published.published_at,
                published.published_by,
            )
    outcome.swapped = True


async def replay(
    settings: Settings,
    edition: int,
    *,
    swap: bool = False,
    progress: TextIO | None = sys.stderr,
    workers: int | None = None,
) -> ReplayReport:
    # Hundreds of thousands of objects are created and kept until the end: the cyclic
    # garbage collector would walk them again and again for nothing.
    gc.disable()
    try:
        return await _replay(
            settings, edition, swap=swap, progress=progress, workers=workers or worker_count()
        )
    finally:
        gc.enable()


async def _replay(
    settings: Settings, edition: int, *, swap: bool, progress: TextIO | None, workers: int
) -> ReplayReport:
    started = time.perf_counter()
    schema = f"replay_{edition}_{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    report = ReplayReport(edition, schema, workers=workers)
    nc = await connect(settings.nats_url, "scoring-replay")
    try:
        report.published = await published_results(nc, edition)
        total = await edition_size(nc, edition)
        # Forked before anything else starts (threads, connections). --swap gives the live
        # read model the facts: the replay's schema must hold them then.
        with (
            Workers(workers, edition, report.published, with_rows=swap) as pool,
            tqdm(
                total=total,
                unit=" events",
                desc=f"edition {edition}",
                file=progress,
                disable=progress is None,
            ) as bar,
        ):

            def take(message: Msg) -> None:
                report.events += 1
                sequence = message.metadata.sequence.stream
                body = message.data
                pool.add((message.subject, body, sequence, registration_of(message.headers, body)))
                if report.events % 1000 == 0:
                    bar.update(report.events - bar.n)

            conn = await asyncpg.connect(settings.database_url)
            try:
                # The schema is made while the messages are read.
                preparing = asyncio.create_task(prepare_schema(conn, schema))
                try:
                    await read_edition(nc, edition, take)
                    pool.close()
                    bar.update(report.events - bar.n)
                    report.read_seconds = time.perf_counter() - started
                finally:
                    await preparing
                results = await write_rebuilt(conn, edition, pool, report, keep_text=swap)
                report.fingerprint = results.fingerprint
                report.structures = results.figures.structures
                if swap:
                    await swap_into_live(conn, schema, edition, results, report)
            finally:
                await conn.close()
    finally:
        await nc.close()
    report.seconds = time.perf_counter() - started
    return report


async def prepare_schema(conn: Connection, schema: str) -> None:
    await create_schema(conn, schema)
    await conn.execute(REBUILT_DDL)


async def drop_schema(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def print_report(outcome: ReplayReport, out: TextIO) -> None:
    print(
        f"Replayed edition {outcome.edition}: {outcome.events:,} events "
        f"({outcome.probe_events:,} probe events) in {outcome.seconds:.2f} s, "
        f"{outcome.probe_events / outcome.seconds:,.0f} probe events/s",
        file=out,
    )
    if outcome.refused:
        print(f"Refused (not contract events): {len(outcome.refused)}", file=out)
        for line in outcome.refused[:10]:
            print(f"  {line}", file=out)
    if outcome.held:
        print(f"Held out (arrived after publication): {outcome.held}", file=out)
    print(f"Structures scored: {outcome.structures}", file=out)
    print(f"Rebuilt into schema: {outcome.schema}", file=out)
    print(f"Fingerprint: {outcome.fingerprint}", file=out)
    published = outcome.published
    if published is None:
        print("Published:   not yet (no results_published event for this edition)", file=out)
    else:
        print(
            f"Published:   {published.fingerprint} "
            f"({published.published_at.isoformat()} by {published.published_by})",
            file=out,
        )
        verdict = (
            "MATCH: the replay reproduces the published results"
            if outcome.matches
            else "MISMATCH: the replay differs from the published results"
        )
        print(verdict, file=out)
    print(
        "Live read model: "
        + ("swapped to the replay's facts and recomputed" if outcome.swapped else "untouched"),
        file=out,
    )


def add_command(sub: Any) -> None:
    command = sub.add_parser(
        "replay", help="rebuild an edition's results from the retained streams"
    )
    command.add_argument("--edition", type=int, required=True, help="the edition's year")
    command.add_argument(
        "--swap",
        action="store_true",
        help="then make the live read model take the rebuilt facts and recompute the edition",
    )
    command.add_argument(
        "--drop-schema",
        action="store_true",
        help="drop the replay's schema once done (kept by default for inspection)",
    )
    command.add_argument("--quiet", action="store_true", help="no progress bar")


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    outcome = asyncio.run(
        replay(settings, args.edition, swap=args.swap, progress=None if args.quiet else sys.stderr)
    )
    if args.drop_schema:
        asyncio.run(drop_schema(settings.database_url, outcome.schema))
        outcome.schema += " (dropped)"
    print_report(outcome, sys.stdout)
    if outcome.events == 0:
        print(f"The streams hold no event of edition {outcome.edition}.", file=sys.stderr)
        return 2
    return 1 if outcome.matches is False else 0
