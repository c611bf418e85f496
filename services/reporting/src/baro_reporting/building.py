"""Making an edition's reports: from the stored facts to stored, announced PDFs.

Each report is rendered once per (kind, structure, fingerprint, template version, editorial
version): its id is derived from them, its bytes stored under that id and the rendering
recorded (and so announced as `reporting.v1.report_rendered`) once. Running a build again,
or two builds at once, renders only what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from baro_reporting import store
from baro_reporting.application import ReportingApplication
from baro_reporting.documents import EditionContext, free_input, paid_input, synthesis_input
from baro_reporting.domain import NotFound, report_id
from baro_reporting.facts import (
    EditionFacts,
    Editorial,
    Publication,
    current_of,
    earlier_of,
    edition_facts,
    through_of,
)
from baro_reporting.render import TEMPLATE_VERSION, Rendered, render_pdf

log = logging.getLogger(__name__)

SYNTHESIS = "synthesis"


@dataclass(frozen=True)
class Wanted:
    """A report an edition's publication calls for."""

    kind: str
    registration_id: str | None
    editorial_version: int

    def report_id(self, fingerprint: str) -> UUID:
        return report_id(
            self.kind, self.registration_id, fingerprint, TEMPLATE_VERSION, self.editorial_version
        )


def wanted_reports(facts: EditionFacts) -> list[Wanted]:
    """The synthesis (with the editorial version in force), then each structure's report of
    the kind its participation gives, in registration id order."""
    structures = facts.publication.document["structures"]
    return [
        Wanted(SYNTHESIS, None, facts.editorial.version),
        *(
            Wanted("paid" if s["participation"] == "paid" else "free", s["registration_id"], 0)
            for s in structures
        ),
    ]


def input_document(context: EditionContext, wanted: Wanted) -> dict[str, Any]:
    if wanted.kind == SYNTHESIS:
        return synthesis_input(context)
    assert wanted.registration_id is not None
    if wanted.kind == "paid":
        return paid_input(context, wanted.registration_id)
    return free_input(context, wanted.registration_id)


async def load_facts(
    conn: store.Connection, publication: Publication, editorial: Editorial
) -> EditionFacts:
    earlier = earlier_of(await store.publications(conn), publication)
    return edition_facts(
        publication,
        await store.registration_bodies(conn, through_of(publication, "registration")),
        await store.referential_bodies(conn, publication.edition),
        [await store.with_document(conn, p) for p in earlier],
        editorial,
    )


async def current_publication(conn: store.Connection, edition: int) -> Publication | None:
    """The edition's current publication, with its document."""
    current = current_of(await store.publications(conn), edition)
    return None if current is None else await store.with_document(conn, current)


async def edition_context(
    pool: asyncpg.Pool, application: ReportingApplication, edition: int
) -> EditionContext:
    async with pool.acquire() as conn:
        publication = await current_publication(conn, edition)
        if publication is None:
            raise NotFound(
                f"reporting holds no published results of edition {edition}: it makes "
                "documents once scoring publishes them",
                "year",
            )
        editorial = await asyncio.to_thread(application.editorial, edition)
        facts = await load_facts(conn, publication, editorial)
    return EditionContext(facts, TEMPLATE_VERSION)


def render_executor(workers: int) -> Executor:
    """Processes that render (Typst is CPU-bound); started fresh, not forked from a process
    that runs threads and an event loop."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


@dataclass
class BuildOutcome:
    edition: int
    fingerprint: str
    wanted: int
    rendered: int = 0
    already: int = 0


async def keep_rendered(
    pool: asyncpg.Pool,
    application: ReportingApplication,
    context: EditionContext,
    wanted: Wanted,
    rendered: Rendered,
) -> bool:
    """Store and record one rendered report; False when it was stored already."""
    publication = context.publication
    identity = wanted.report_id(publication.fingerprint)
    async with pool.acquire() as conn:
        stored = await store.store_report(
            conn,
            {
                "report_id": identity,
                "edition": publication.edition,
                "kind": wanted.kind,
                "registration_id": UUID(wanted.registration_id) if wanted.registration_id else None,
                "fingerprint": publication.fingerprint,
                "template_version": TEMPLATE_VERSION,
                "editorial_version": wanted.editorial_version,
                "sha256": rendered.sha256,
                "input_sha256": rendered.input_sha256,
                "pages": rendered.pages,
                "pdf": rendered.pdf,
                "input": rendered.input,
            },
        )
        row = await store.report_row(conn, identity)
    assert row is not None
    # Recorded from the stored row: if another build stored it first, its bytes are the ones.
    await _record(application, row)
    return stored


async def build_edition(
    pool: asyncpg.Pool,
    application: ReportingApplication,
    edition: int,
    *,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BuildOutcome:
    """Render what the edition's current publication calls for and is not stored yet."""
    context = await edition_context(pool, application, edition)
    return await render_missing(
        pool,
        application,
        context,
        wanted_reports(context.facts),
        executor=executor,
        progress=progress,
        on_total=on_total,
    )


async def render_missing(
    pool: asyncpg.Pool,
    application: ReportingApplication,
    context: EditionContext,
    wanted: list[Wanted],
    *,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BuildOutcome:
    """Render, store and record those of `wanted` (reports of `context`'s publication) that
    are not stored yet; record those stored but not recorded."""
    publication = context.publication
    edition = publication.edition
    async with pool.acquire() as conn:
        existing = await store.report_ids(conn, edition)
    outcome = BuildOutcome(edition, publication.fingerprint, len(wanted))
    if on_total:
        on_total(len(wanted))
    loop = asyncio.get_running_loop()
    pending: list[tuple[Wanted, asyncio.Future[Rendered]]] = []
    for want in wanted:
        if want.report_id(publication.fingerprint) in existing:
            outcome.already += 1
            await _ensure_recorded(pool, application, want.report_id(publication.fingerprint))
            if progress:
                progress(1)
            continue
        document = input_document(context, want)
        pending.append((want, loop.run_in_executor(executor, render_pdf, document)))
    for want, future in pending:
        rendered = await future
        if await keep_rendered(pool, application, context, want, rendered):
            outcome.rendered += 1
        else:
            outcome.already += 1
        if progress:
            progress(1)
    return outcome


async def _ensure_recorded(
    pool: asyncpg.Pool, application: ReportingApplication, identity: UUID
) -> None:
    """A report stored by a build that stopped before recording it gets recorded now."""
    if await asyncio.to_thread(application.rendered, identity) is not None:
        return
    async with pool.acquire() as conn:
        row = await store.report_row(conn, identity)
    if row is None:
        return
    await _record(application, row)


async def _record(application: ReportingApplication, row: asyncpg.Record) -> None:
    await asyncio.to_thread(
        application.record_rendered,
        kind=row["kind"],
        registration_id=str(row["registration_id"]) if row["registration_id"] else None,
        fingerprint=row["fingerprint"],
        template_version=row["template_version"],
        editorial_version=row["editorial_version"],
        edition=row["edition"],
        sha256=row["sha256"],
        input_sha256=row["input_sha256"],
        pages=row["pages"],
        size_bytes=row["size_bytes"],
    )
