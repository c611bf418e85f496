"""Thin HTTP routes over the audit-ingest application."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from baro_audit_ingest.application import AuditApplication
from baro_audit_ingest.domain import AuditEdition, AuditError, Conflict
from baro_audit_ingest.recording import ProbeRecorder
from baro_audit_ingest.schemas import (
    CorrectionIn,
    EditionOut,
    PlanOut,
    PlanSettingsIn,
    ProbeBatchIn,
    ProbeBatchOut,
    ProbeIn,
    ProbeOut,
    ProbeResult,
    ReferentialIn,
    ReferentialOut,
    refusal_body,
)
from baro_chassis.auth import Principal, Role, require
from baro_chassis.bounds import Version, Year
from baro_chassis.errors import invalid_request_body
from baro_chassis.routing import GuardedRoute
from baro_chassis.telemetry import current_carrier

router = APIRouter(route_class=GuardedRoute)

LARGER_BODIES = {r"/editions/[^/]+/probes/batch": 4 * 1024 * 1024}
"""A batch's limit: 500 phone probes of the default referential are ~640 kB pretty-printed;
this leaves room for referentials with several times more items per channel."""

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
Corrector = Annotated[Principal, Depends(require(Role.AUDITOR, Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR, Role.REPLAY_AUDITOR))]
AnyRole = Annotated[Principal, Depends(require(*Role, structure=True))]


async def application(request: Request) -> AuditApplication:
    app: AuditApplication = request.app.state.application
    return app


App = Annotated[AuditApplication, Depends(application)]


async def probe_recorder(request: Request) -> ProbeRecorder:
    recorder: ProbeRecorder = request.app.state.recorder
    return recorder


Recorder = Annotated[ProbeRecorder, Depends(probe_recorder)]


def install_domain_errors(app: FastAPI) -> None:
    @app.exception_handler(AuditError)
    async def refused(_: Request, exc: AuditError) -> JSONResponse:
        return JSONResponse(refusal_body(exc), status_code=exc.status)


async def edition_out(app: AuditApplication, edition: AuditEdition) -> EditionOut:
    return EditionOut.of(edition, await run_in_threadpool(app.structure_count, edition))


@router.get("/editions/{year}", response_model=EditionOut, tags=["editions"])
async def get_edition(year: Year, _: Staff, app: App) -> EditionOut:
    return await edition_out(app, await run_in_threadpool(app.edition, year))


@router.put("/editions/{year}/plan-settings", response_model=EditionOut, tags=["plans"])
async def change_plan_settings(year: Year, body: PlanSettingsIn, _: Admin, app: App) -> EditionOut:
    mix = {channel.value: count for channel, count in body.channel_mix.items()}
    edition = await run_in_threadpool(app.change_plan_settings, year, mix, body.seed, body.auditors)
    return await edition_out(app, edition)


@router.put("/editions/{year}/referential", response_model=ReferentialOut, tags=["referentials"])
async def publish_referential(
    year: Year, body: ReferentialIn, _: Admin, app: App
) -> ReferentialOut:
    edition = await run_in_threadpool(app.publish_referential, year, body.document())
    return ReferentialOut.of(edition, edition.referential_version)


@router.get("/editions/{year}/referential", response_model=ReferentialOut, tags=["referentials"])
async def get_referential(
    year: Year,
    _: AnyRole,
    app: App,
    version: Version = None,
) -> ReferentialOut:
    edition, found = await run_in_threadpool(app.referential, year, version)
    return ReferentialOut.of(edition, found)


@router.get("/editions/{year}/plans/{registration_id}", response_model=PlanOut, tags=["plans"])
async def get_plan(
    year: Year,
    registration_id: UUID,
    _: Annotated[Principal, Depends(require(Role.ADMIN, Role.AUDITOR))],
    app: App,
) -> PlanOut:
    structure = await run_in_threadpool(app.structure, year, registration_id)
    if structure.plan is None:
        reason = "it is not in the panel" if not structure.in_panel else "registration is open"
        raise Conflict(
            f"registration {registration_id} has no audit plan yet ({reason}); plans are "
            "issued for the panel when the edition's registration closes"
        )
    return PlanOut.of(structure)


@router.post(
    "/editions/{year}/probes",
    status_code=201,
    response_model=ProbeOut,
    responses={200: {"model": ProbeOut, "description": "Already recorded, same content"}},
    tags=["probes"],
)
async def record_probe(
    year: Year, body: ProbeIn, principal: Auditor, recorder: Recorder
) -> Response:
    """201 with the recorded probe; 200 with the original when this probe was already
    recorded with the same content (a retry), 409 when with another."""
    recorded = await recorder.record(year, body, principal.subject, current_carrier())
    headers = {}
    if recorded.status in (200, 201):
        headers["Location"] = f"/editions/{year}/probes/{body.probe_id}"
    # Serialised once, where the probe was recorded: FastAPI does not validate it again.
    return Response(
        recorded.body, status_code=recorded.status, media_type="application/json", headers=headers
    )


@router.post("/editions/{year}/probes/batch", response_model=ProbeBatchOut, tags=["probes"])
async def record_probes(
    year: Year, body: ProbeBatchIn, principal: Auditor, recorder: Recorder
) -> ProbeBatchOut:
    """Several probes in one request (a capture app syncing, an import): each is checked and
    recorded on its own, as by POST /editions/{year}/probes, and gets its own status."""
    carrier = current_carrier()
    results: list[ProbeResult | None] = [None] * len(body.probes)
    pending: list[tuple[int, ProbeIn]] = []
    for index, raw in enumerate(body.probes):
        try:
            pending.append((index, ProbeIn.model_validate(raw)))
        except ValidationError as exc:
            results[index] = ProbeResult(
                index=index,
                probe_id=str(raw.get("probe_id")),
                status=422,
                error=invalid_request_body(exc.errors()),
            )
    recorded = await asyncio.gather(
        *(recorder.record(year, probe, principal.subject, carrier) for _, probe in pending)
    )
    for (index, probe), outcome in zip(pending, recorded, strict=True):
        results[index] = ProbeResult(
            index=index,
            probe_id=str(probe.probe_id),
            status=outcome.status,
            error=json.loads(outcome.body) if outcome.status >= 400 else None,
        )
    done = [r for r in results if r is not None]
    return ProbeBatchOut(
        recorded=sum(r.status == 201 for r in done),
        already_present=sum(r.status == 200 for r in done),
        refused=sum(r.status >= 400 for r in done),
        results=done,
    )


@router.get("/editions/{year}/probes/{probe_id}", response_model=ProbeOut, tags=["probes"])
async def get_probe(year: Year, probe_id: UUID, _: Staff, app: App) -> ProbeOut:
    return ProbeOut.of(await run_in_threadpool(app.probe, year, probe_id))


@router.post(
    "/editions/{year}/probes/{probe_id}/corrections",
    status_code=201,
    response_model=ProbeOut,
    tags=["probes"],
)
async def correct_probe(
    year: Year, probe_id: UUID, body: CorrectionIn, principal: Corrector, app: App
) -> ProbeOut:
    probe = await run_in_threadpool(
        lambda: app.correct_probe(
            year,
            probe_id,
            answers=body.answers,
            measures=body.measures,
            reason=body.reason,
            corrected_by=principal.subject,
        )
    )
    return ProbeOut.of(probe)


@router.get(
    "/editions/{year}/registrations/{registration_id}/probes",
    response_model=list[ProbeOut],
    tags=["probes"],
)
async def list_probes(year: Year, registration_id: UUID, _: Staff, app: App) -> list[ProbeOut]:
    probes = await run_in_threadpool(app.probes_of, year, registration_id)
    return [ProbeOut.of(p) for p in probes]
