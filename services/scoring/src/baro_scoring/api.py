"""Thin HTTP routes over the read model and the publication."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from nats.aio.client import Client

from baro_chassis.auth import Principal, Role, ensure_registration, optional_principal, require
from baro_chassis.bounds import Year
from baro_chassis.errors import ApiError
from baro_chassis.routing import GuardedRoute
from baro_chassis.service import Clock
from baro_contracts.registration_v1 import Category, Participation
from baro_scoring.application import ScoringApplication
from baro_scoring.consumers import backlog
from baro_scoring.documents import keep_published_documents
from baro_scoring.domain import Conflict, NotFound, ScoringError
from baro_scoring.figures import EditionFigures, Ranked, StructureLine, edition_figures
from baro_scoring.projections import (
    Connection,
    edition_known,
    held_facts,
    line_count,
    lines,
    publication,
    revision,
    structure_results_document,
)
from baro_scoring.publication import publish_results
from baro_scoring.schemas import (
    CategoryRankingOut,
    KpisOut,
    LaureateOut,
    LaureatesOut,
    PublicationOut,
    PublishedOut,
    RankingsOut,
    ScoredStructureOut,
    ScoresOut,
    StructureScoresOut,
)
from baro_scoring.views import kpis_view, mean_view, ranked_fields, ranked_view, scores_view

router = APIRouter(route_class=GuardedRoute, tags=["results"])

STAFF = (Role.ADMIN, Role.REPLAY_AUDITOR)
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(*STAFF))]
StaffOrStructure = Annotated[Principal, Depends(require(*STAFF, structure=True))]
Anyone = Annotated[Principal | None, Depends(optional_principal)]


async def database(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


Pool = Annotated[asyncpg.Pool, Depends(database)]


def install_domain_errors(app: FastAPI) -> None:
    @app.exception_handler(ScoringError)
    async def refused(_: Request, exc: ScoringError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409
        code = "not_found" if isinstance(exc, NotFound) else "conflict"
        body = ApiError(status, code, exc.message, field=exc.field).body()
        return JSONResponse(body, status_code=status)


@dataclass
class KnownEdition:
    revision: int
    lines: dict[UUID, StructureLine]
    summary: EditionFigures


Summaries = dict[int, KnownEdition]


async def summaries(request: Request) -> Summaries:
    """Each edition's lines and summary as of a results revision, kept by this process."""
    cache: Summaries = request.app.state.summaries
    return cache


Cache = Annotated[Summaries, Depends(summaries)]


async def _edition(
    conn: Connection, year: Year, cache: Summaries
) -> tuple[list[StructureLine], EditionFigures, bool]:
    """The edition's structures, their summary, and whether the results are published;
    404 if scoring knows nothing of the edition. Only the lines written since the last
    request are read again, and the summary is recomputed only when they changed."""
    if not await edition_known(conn, year):
        raise NotFound(
            f"scoring has received no event of edition {year}: check the year, or wait for "
            "registration and audit-ingest to publish it",
            "year",
        )
    published = await publication(conn, year) is not None
    current = await revision(conn, year) or 0
    known = cache.get(year)
    if known is None or known.revision != current:
        after = known.revision if known is not None and known.revision < current else -1
        fresh = {line.registration_id: line for line in await lines(conn, year, after)}
        merged = {**known.lines, **fresh} if known is not None and after >= 0 else fresh
        if len(merged) != await line_count(conn, year):  # some were deleted (a swap)
            merged = {line.registration_id: line for line in await lines(conn, year)}
        known = cache[year] = KnownEdition(current, merged, edition_figures(year, merged.values()))
    return list(known.lines.values()), known.summary, published


def _staff_or_published(principal: Principal | None, published: bool, what: str) -> None:
    if published or (principal is not None and principal.has_any(frozenset(STAFF))):
        return
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            f"the {what} are public once the edition's results are published; until then "
            "send an admin or replay-auditor bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise ApiError(
        403,
        "forbidden",
        f"the {what} are public once published; until then they need the admin or "
        "replay-auditor role",
    )


@router.get("/editions/{year}/scores/{registration_id}", response_model=StructureScoresOut)
async def structure_scores(
    year: Year,
    registration_id: UUID,
    principal: StaffOrStructure,
    pool: Pool,
    cache: Cache,
    request: Request,
) -> StructureScoresOut:
    """A structure's scores. Its own token sees only its own; a free participant gets its
    channel averages and the peer comparison, a paid one everything."""
    ensure_registration(principal, registration_id, *STAFF)
    async with pool.acquire() as conn:
        _, summary, published = await _edition(conn, year, cache)
        found = await structure_results_document(conn, year, registration_id)
    document, labels = found if found is not None else (None, {})
    if document is None or document["category"] is None:
        raise NotFound(
            f"registration {registration_id} has no score in edition {year} yet: it is not "
            "in the panel, or no probe of it has been recorded",
            "registration_id",
        )
    full = principal.has_any(frozenset(STAFF)) or (
        document["participation"] == Participation.PAID.value
    )
    return scores_view(year, document, summary, full=full, published=published, labels=labels)


@router.get("/editions/{year}/scores", response_model=ScoresOut)
async def all_scores(year: Year, _caller: Staff, pool: Pool, cache: Cache) -> ScoresOut:
    """Every structure's global score, rank and progress, by category."""
    async with pool.acquire() as conn:
        structures, summary, published = await _edition(conn, year, cache)
    ranked = {e.line.registration_id: e for r in summary.rankings.values() for e in r}
    views = []
    for line in sorted(structures, key=lambda s: (s.category or "", str(s.registration_id))):
        entry = ranked.get(line.registration_id) or Ranked(None, line.category or "", line)
        views.append(ScoredStructureOut(**ranked_fields(entry), participation=line.participation))
    return ScoresOut(edition=year, published=published, structures=views)


@router.get("/editions/{year}/rankings", response_model=RankingsOut)
async def rankings(
    year: Year,
    _caller: Staff,
    pool: Pool,
    cache: Cache,
    category: Annotated[Category | None, Query(description="One category; all when absent")] = None,
) -> RankingsOut:
    """Per category: complete structures ranked by global score (ties broken by the
    processing step; equal on both, the rank is shared), then incomplete ones, unranked."""
    async with pool.acquire() as conn:
        _, summary, published = await _edition(conn, year, cache)
    wanted = [category.value] if category else sorted(summary.rankings)
    return RankingsOut(
        edition=year,
        published=published,
        rankings={
            c: CategoryRankingOut(
                mean=mean_view(summary.categories.get(c)),
                structures=[ranked_view(entry) for entry in summary.rankings.get(c, [])],
            )
            for c in wanted
        },
    )


@router.get("/editions/{year}/laureates", response_model=LaureatesOut)
async def laureates(year: Year, principal: Anyone, pool: Pool, cache: Cache) -> LaureatesOut:
    """The best complete structure of each category; joint when tied on both scores."""
    async with pool.acquire() as conn:
        _, summary, published = await _edition(conn, year, cache)
    _staff_or_published(principal, published, "laureates")
    by_category: dict[str, list[Any]] = {}
    for entry in summary.laureates:
        by_category.setdefault(entry.category, []).append(entry)
    return LaureatesOut(
        edition=year,
        published=published,
        laureates=[
            LaureateOut(**ranked_fields(entry), joint=len(by_category[entry.category]) > 1)
            for entry in summary.laureates
        ],
        categories_without_laureate=sorted({c.value for c in Category} - set(by_category)),
    )


@router.get("/editions/{year}/kpis", response_model=KpisOut)
async def kpis(year: Year, principal: Anyone, pool: Pool, cache: Cache) -> KpisOut:
    """The national synthesis: means (national, per category, certified or not, per
    channel) and the channel KPIs."""
    async with pool.acquire() as conn:
        _, summary, published = await _edition(conn, year, cache)
    _staff_or_published(principal, published, "KPIs")
    return kpis_view(summary, published=published)


@router.post("/editions/{year}/publish", status_code=201, response_model=PublishedOut)
async def publish(year: Year, principal: Admin, request: Request, pool: Pool) -> PublishedOut:
    """Freeze the edition's results and publish them with their fingerprint. Refused while
    scoring is still applying events from registration or audit-ingest. Once published, the
    publication as it was made (publishing is done once; a retry gets its answer)."""
    nc: Client = request.app.state.nats
    application: ScoringApplication = request.app.state.application
    published_already = await asyncio.to_thread(application.publication, year) is not None
    waiting = {name: count for name, count in (await backlog(nc)).items() if count}
    if waiting and not published_already:
        detail = ", ".join(
            f"{name}: {'not started' if count < 0 else f'{count} events'}"
            for name, count in waiting.items()
        )
        raise Conflict(
            f"scoring has not applied every event yet ({detail}); publish again in a moment",
            "year",
        )
    clock: Clock = request.app.state.clock
    published = await publish_results(
        pool, application, year, published_by=principal.subject, now=clock()
    )
    await keep_published_documents(pool, nc.jetstream())
    return PublishedOut.of(published)


@router.get("/editions/{year}/publication", response_model=PublicationOut)
async def get_publication(year: Year, pool: Pool) -> PublicationOut:
    """The edition's publication record (public): its fingerprint and what it includes."""
    async with pool.acquire() as conn:
        row = await publication(conn, year)
        held = await held_facts(conn, year)
    if row is None:
        raise NotFound(f"edition {year}'s results are not published", "year")
    return PublicationOut(
        edition=year,
        fingerprint=row["fingerprint"],
        method=row["method"],
        included_through=json.loads(row["included_through"]),
        published_at=row["published_at"].isoformat(),
        published_by=row["published_by"],
        events_after_publication=held,
    )
