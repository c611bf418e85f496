"""Thin HTTP routes: documents, exports and editorial content.

Public once published: the national synthesis (PDF, HTML), the publication record and the
open-data CSV. A structure's report: its own token, or staff (admin, replay auditor).
Exports: staff. Editorial content: admin.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from baro_chassis.auth import Principal, Role, ensure_registration, require
from baro_chassis.bounds import Version, Year
from baro_chassis.errors import install_refusals
from baro_chassis.routing import GuardedRoute
from baro_reporting import store
from baro_reporting.application import ReportingApplication
from baro_reporting.autobuild import AutoBuild
from baro_reporting.building import (
    SYNTHESIS,
    Wanted,
    current_publication,
    edition_context,
    render_missing,
    wanted_reports,
)
from baro_reporting.documents import EditionContext, synthesis_input
from baro_reporting.domain import Conflict, InvalidInput, NotFound, ReportingError
from baro_reporting.editorial import checked_content
from baro_reporting.exports import open_data_csv, results_csv, results_xlsx
from baro_reporting.render import render_html
from baro_reporting.schemas import (
    BuildOut,
    EditorialIn,
    EditorialOut,
    PublicationOut,
    ReportList,
    ReportOut,
    SupersededOut,
)

router = APIRouter(route_class=GuardedRoute)

STAFF = (Role.ADMIN, Role.REPLAY_AUDITOR)
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(*STAFF))]
StaffOrStructure = Annotated[Principal, Depends(require(*STAFF, structure=True))]
PDF = "application/pdf"
CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def application(request: Request) -> ReportingApplication:
    app: ReportingApplication = request.app.state.application
    return app


async def database(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


App = Annotated[ReportingApplication, Depends(application)]
Pool = Annotated[asyncpg.Pool, Depends(database)]


def install_domain_errors(app: FastAPI) -> None:
    install_refusals(
        app,
        ReportingError,
        {
            InvalidInput: (422, "invalid_request"),
            Conflict: (409, "conflict"),
            NotFound: (404, "not_found"),
        },
    )


def _report_out(row: asyncpg.Record, current_fingerprint: str | None) -> ReportOut:
    return ReportOut(
        report_id=row["report_id"],
        edition=row["edition"],
        kind=row["kind"],
        registration_id=row["registration_id"],
        fingerprint=row["fingerprint"],
        template_version=row["template_version"],
        editorial_version=row["editorial_version"],
        sha256=row["sha256"],
        input_sha256=row["input_sha256"],
        pages=row["pages"],
        size_bytes=row["size_bytes"],
        current=row["fingerprint"] == current_fingerprint,
        pdf_url=f"/reports/{row['report_id']}.pdf",
    )


def _pdf(content: bytes, row: asyncpg.Record, name: str) -> Response:
    return Response(
        content,
        media_type=PDF,
        headers={
            "Content-Disposition": f'inline; filename="{name}.pdf"',
            "ETag": f'"{row["sha256"]}"',
            "Baro-Fingerprint": row["fingerprint"],
            "Baro-Report-Id": str(row["report_id"]),
        },
    )


async def _report(
    request: Request,
    pool: asyncpg.Pool,
    app: ReportingApplication,
    context: EditionContext,
    want: Wanted,
) -> asyncpg.Record:
    """The current publication's report `want`, rendered now if no build has made it yet."""
    identity = want.report_id(context.publication.fingerprint)
    async with pool.acquire() as conn:
        row = await store.report_row(conn, identity)
    if row is None:
        executor = request.app.state.executor
        await render_missing(pool, app, context, [want], executor=executor)
        async with pool.acquire() as conn:
            row = await store.report_row(conn, identity)
    assert row is not None
    return row


async def _rendered_count(pool: asyncpg.Pool, context: EditionContext) -> tuple[int, int]:
    """How many reports the current publication calls for, and how many are stored."""
    async with pool.acquire() as conn:
        ids = await store.report_ids(conn, context.edition)
    wanted = wanted_reports(context.facts)
    fingerprint = context.publication.fingerprint
    return len(wanted), sum(1 for w in wanted if w.report_id(fingerprint) in ids)


async def _file(pool: asyncpg.Pool, row: asyncpg.Record) -> bytes:
    async with pool.acquire() as conn:
        content = await store.report_file(conn, row["report_id"], "pdf")
    assert content is not None
    return content


@router.get("/editions/{year}/publication", response_model=PublicationOut, tags=["documents"])
async def get_publication(year: Year, pool: Pool, app: App) -> PublicationOut:
    """The published results reporting holds for the edition (public): the fingerprint its
    documents are made from, earlier publications it supersedes, and the reports so far."""
    context = await edition_context(pool, app, year)
    publication = context.publication
    async with pool.acquire() as conn:
        received = await store.publications(conn)
    wanted, rendered = await _rendered_count(pool, context)
    return PublicationOut(
        edition=year,
        fingerprint=publication.fingerprint,
        method=publication.method,
        published_at=publication.published_at,
        published_by=publication.published_by,
        included_through=publication.included_through,
        superseded=[
            SupersededOut(fingerprint=p.fingerprint, published_at=p.published_at)
            for p in received
            if p.edition == year and p.position < publication.position
        ],
        reports_wanted=wanted,
        reports_rendered=rendered,
    )


@router.get("/editions/{year}/synthesis.pdf", tags=["documents"], response_class=Response)
async def synthesis_pdf(year: Year, request: Request, pool: Pool, app: App) -> Response:
    """The national synthesis (public once the edition is published), with the latest
    editorial version."""
    context = await edition_context(pool, app, year)
    want = Wanted(SYNTHESIS, None, context.facts.editorial.version)
    row = await _report(request, pool, app, context, want)
    return _pdf(await _file(pool, row), row, f"barometre-{year}-synthese")


@router.get("/editions/{year}/synthesis.html", tags=["documents"], response_class=Response)
async def synthesis_html(year: Year, pool: Pool, app: App) -> Response:
    """The national synthesis as a web page (public once the edition is published)."""
    context = await edition_context(pool, app, year)
    html = await run_in_threadpool(render_html, synthesis_input(context))
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Baro-Fingerprint": context.publication.fingerprint},
    )


@router.get(
    "/editions/{year}/structures/{registration_id}/report.pdf",
    tags=["documents"],
    response_class=Response,
)
async def structure_report_pdf(
    year: Year,
    registration_id: UUID,
    principal: StaffOrStructure,
    request: Request,
    pool: Pool,
    app: App,
) -> Response:
    """The structure's report of the current publication: the detailed one for a paying
    structure, the one-page result for a free one. Its own token, or staff."""
    ensure_registration(principal, registration_id, *STAFF)
    context = await edition_context(pool, app, year)
    row = await _report(request, pool, app, context, _structure_wanted(context, registration_id))
    return _pdf(await _file(pool, row), row, f"barometre-{year}-{registration_id}")


@router.get(
    "/editions/{year}/structures/{registration_id}/report",
    response_model=ReportOut,
    tags=["documents"],
)
async def structure_report(
    year: Year,
    registration_id: UUID,
    principal: StaffOrStructure,
    request: Request,
    pool: Pool,
    app: App,
) -> ReportOut:
    """What the structure's report is: kind, fingerprint, SHA-256 of its file, pages."""
    ensure_registration(principal, registration_id, *STAFF)
    context = await edition_context(pool, app, year)
    row = await _report(request, pool, app, context, _structure_wanted(context, registration_id))
    return _report_out(row, row["fingerprint"])


def _structure_wanted(context: EditionContext, registration_id: UUID) -> Wanted:
    structure = context.structures.get(str(registration_id))
    if structure is None:
        raise NotFound(
            f"registration {registration_id} has no published results in edition {context.edition}",
            "registration_id",
        )
    kind = "paid" if structure["participation"] == "paid" else "free"
    return Wanted(kind, str(registration_id), 0)


@router.get("/reports/{report_id}.pdf", tags=["documents"], response_class=Response)
async def report_pdf(report_id: UUID, principal: StaffOrStructure, pool: Pool) -> Response:
    """Any stored report by its id, a superseded one included."""
    async with pool.acquire() as conn:
        row = await store.report_row(conn, report_id)
    if row is None:
        raise NotFound(f"no report {report_id}", "report_id")
    if row["registration_id"] is not None:
        ensure_registration(principal, row["registration_id"], *STAFF)
    return _pdf(await _file(pool, row), row, f"barometre-{row['edition']}-{report_id}")


@router.get("/editions/{year}/reports", response_model=ReportList, tags=["documents"])
async def list_reports(year: Year, _: Staff, pool: Pool, app: App) -> ReportList:
    """Every report stored for the edition, those of superseded publications included."""
    context = await edition_context(pool, app, year)
    fingerprint = context.publication.fingerprint
    async with pool.acquire() as conn:
        rows = await store.reports_of(conn, year)
    return ReportList(
        edition=year, fingerprint=fingerprint, reports=[_report_out(r, fingerprint) for r in rows]
    )


@router.post(
    "/editions/{year}/reports/build", response_model=BuildOut, status_code=202, tags=["documents"]
)
async def build_reports(year: Year, _: Admin, request: Request, pool: Pool, app: App) -> BuildOut:
    """Render the edition's missing reports in the background (publication does it by
    itself; this is for after a template change, say)."""
    context = await edition_context(pool, app, year)
    wanted, done = await _rendered_count(pool, context)
    autobuild: AutoBuild = request.app.state.autobuild
    autobuild.wake(year)
    return BuildOut(
        edition=year,
        fingerprint=context.publication.fingerprint,
        reports_wanted=wanted,
        reports_rendered=done,
        message=f"{wanted - done} reports to render; follow GET /editions/{year}/publication",
    )


@router.get("/editions/{year}/exports/results.csv", tags=["exports"], response_class=Response)
async def export_csv(year: Year, _: Staff, pool: Pool, app: App) -> Response:
    """Every structure's published results, for French Excel (UTF-8 BOM, `;`, decimal comma)."""
    context = await edition_context(pool, app, year)
    return _download(results_csv(context), CSV, f"barometre-{year}-resultats.csv", context)


@router.get("/editions/{year}/exports/results.xlsx", tags=["exports"], response_class=Response)
async def export_xlsx(year: Year, _: Staff, pool: Pool, app: App) -> Response:
    context = await edition_context(pool, app, year)
    xlsx = await run_in_threadpool(results_xlsx, context)
    return _download(xlsx, XLSX, f"barometre-{year}-resultats.xlsx", context)


@router.get("/editions/{year}/open-data/national.csv", tags=["exports"], response_class=Response)
async def open_data(year: Year, pool: Pool, app: App) -> Response:
    """The edition's national figures as open data (public once published)."""
    context = await edition_context(pool, app, year)
    return _download(open_data_csv(context), CSV, f"barometre-{year}-national.csv", context)


def _download(content: bytes, media_type: str, name: str, context: EditionContext) -> Response:
    fingerprint = context.publication.fingerprint
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Baro-Fingerprint": fingerprint,
        },
    )


async def _ensure_known(pool: asyncpg.Pool, year: int) -> None:
    async with pool.acquire() as conn:
        known = await store.edition_known(conn, year)
    if not known:
        raise NotFound(
            f"reporting has received no event of edition {year}: check the year, or wait for "
            "registration to publish the edition's first registration",
            "year",
        )


@router.get("/editions/{year}/editorial", response_model=EditorialOut, tags=["editorial"])
async def get_editorial(
    year: Year, _: Admin, pool: Pool, app: App, version: Version = None
) -> EditorialOut:
    """The edition's editorial content: the latest version, or `?version=N`."""
    await _ensure_known(pool, year)
    found = await run_in_threadpool(app.editorial_record, year)
    if version is None:
        return EditorialOut.of(year, found)
    facts = await run_in_threadpool(app.editorial, year, version)
    return EditorialOut.of(year, found, version=facts.version, content=facts.content)


@router.put("/editions/{year}/editorial", response_model=EditorialOut, tags=["editorial"])
async def put_editorial(
    year: Year, body: EditorialIn, who: Admin, request: Request, pool: Pool, app: App
) -> EditorialOut:
    """Replace the edition's editorial content with a new version. Mentions must name the
    edition's laureates once its results are published."""
    await _ensure_known(pool, year)
    async with pool.acquire() as conn:
        publication = await current_publication(conn, year)
    content = checked_content(body.content, publication)
    editorial = await run_in_threadpool(
        app.revise_editorial, year, content, who.subject, body.expected_version
    )
    if publication is not None:
        autobuild: AutoBuild = request.app.state.autobuild
        autobuild.wake(year)
    return EditorialOut.of(year, editorial)
