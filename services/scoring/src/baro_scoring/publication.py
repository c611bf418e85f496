"""Publishing an edition's results: freeze them, fingerprint them, record the event.

Under the edition's lock (so no consumer changes the facts meanwhile), the results are
computed afresh from every fact of the edition, their fingerprint taken, the frozen
document stored, and the `Publication.Published` event saved for the relay. Facts of the
edition that arrive afterwards are kept but held out of its results. Publishing again
answers the publication as it was made (a client retrying does not get a refusal).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg

from baro_scoring.application import ScoringApplication
from baro_scoring.document import exact, freeze
from baro_scoring.domain import Conflict, NotFound, Publication
from baro_scoring.projections import (
    Connection,
    edition_known,
    included_through,
    load_edition_facts,
    lock_editions,
    publication,
    record_publication,
)
from baro_scoring.rules import METHOD


async def publish_results(
    pool: asyncpg.Pool,
    application: ScoringApplication,
    edition: int,
    *,
    published_by: str,
    now: datetime,
) -> Publication:
    async with pool.acquire() as conn, conn.transaction():
        await lock_editions(conn, [edition])
        recorded = await asyncio.to_thread(application.publication, edition)
        if recorded is not None:
            # Published already: a retry (or a second admin) gets the publication as made.
            if await publication(conn, edition) is None:
                await _record_missed(conn, recorded)
            return recorded
        if not await edition_known(conn, edition):
            raise NotFound(f"scoring has received no event of edition {edition}", "edition")
        frozen = freeze(await load_edition_facts(conn, edition))
        through = await included_through(conn, edition)
        summary = frozen.figures
        published = dict(
            edition=edition,
            fingerprint=frozen.fingerprint,
            method=METHOD,
            included_through=through,
            structures=summary.structures,
            national_score=(
                exact(summary.national.score) if summary.national.score is not None else None
            ),
            laureates=[
                {
                    "category": entry.category,
                    "registration_id": str(entry.line.registration_id),
                    "structure_name": entry.line.name or "",
                    "global_score": exact(entry.line.global_score),
                    "joint": _shares_its_rank(summary.laureates, entry.category),
                }
                for entry in summary.laureates
                if entry.line.global_score is not None
            ],
            published_at=now,
            published_by=published_by,
        )
        await record_publication(conn, frozen, through, now, published_by)
        # Saved last, inside the read model's transaction: if it fails, nothing is frozen.
        return await asyncio.to_thread(application.record_publication, **published)


async def _record_missed(conn: Connection, recorded: Publication) -> None:
    """The publication event was saved but the read model's transaction then failed (the
    connection lost at its commit): freeze the results again; if they are those published,
    record them as they were."""
    frozen = freeze(await load_edition_facts(conn, recorded.edition))
    if frozen.fingerprint != recorded.fingerprint:
        raise Conflict(
            f"edition {recorded.edition}'s publication event exists (fingerprint "
            f"{recorded.fingerprint}) but this read model missed it and now holds other "
            f"facts: run `uv run baro replay scoring --edition {recorded.edition} --swap` to "
            "rebuild it from the streams",
            "edition",
        )
    await record_publication(
        conn, frozen, recorded.included_through, recorded.published_at, recorded.published_by
    )


def _shares_its_rank(laureates: list[Any], category: str) -> bool:
    return sum(1 for entry in laureates if entry.category == category) > 1
