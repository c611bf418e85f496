"""The HTTP API's request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from baro_audit_ingest.application import ProbeSubmission
from baro_audit_ingest.domain import AuditEdition, AuditError, PanelStructure, Probe
from baro_audit_ingest.referential import ReferentialDocument
from baro_contracts.audit_v1 import AnswerValue, Channel, Determinant, Item, Measures


def refusal_body(refusal: AuditError) -> dict[str, Any]:
    """The project's error shape: what is wrong, and each field with its reason."""
    errors = [{"field": field, "reason": reason} for field, reason in refusal.problems]
    return {"error": refusal.code, "message": refusal.message, "errors": errors}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReferentialIn(Body):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    determinants: list[Determinant] = Field(min_length=1, max_length=20)
    items: list[Item] = Field(min_length=1, max_length=2000)

    def document(self) -> ReferentialDocument:
        return ReferentialDocument(
            name=self.name,
            description=self.description,
            determinants=tuple(self.determinants),
            items=tuple(self.items),
        )


class ReferentialOut(BaseModel):
    edition: int
    version: int
    latest_version: int
    frozen: bool = Field(description="True once the edition's first probe is recorded.")
    frozen_at: datetime | None
    published_at: datetime
    name: str
    description: str
    determinants: list[Determinant]
    items: list[Item]

    @classmethod
    def of(cls, edition: AuditEdition, version: int) -> ReferentialOut:
        published = edition.referentials[version - 1]
        document = published["document"]
        frozen = edition.frozen_at is not None and version == edition.referential_version
        return cls(
            edition=edition.year,
            version=version,
            latest_version=edition.referential_version,
            frozen=frozen,
            frozen_at=edition.frozen_at if frozen else None,
            published_at=published["published_at"],
            name=document["name"],
            description=document["description"],
            determinants=document["determinants"],
            items=document["items"],
        )


MAX_PROBES_PER_CHANNEL = 50
"""A structure's plan has 13 probes (14 with the visit option): at most a few per channel."""
ProbeCount = Annotated[int, Field(ge=0, le=MAX_PROBES_PER_CHANNEL)]
AuditorId = Annotated[str, Field(min_length=1, max_length=64)]


class PlanSettingsIn(Body):
    channel_mix: dict[Channel, ProbeCount] = Field(
        description=f"Probes per channel, e.g. phone: 4 (0 to {MAX_PROBES_PER_CHANNEL})."
    )
    seed: str = Field(min_length=1, max_length=100)
    auditors: list[AuditorId] = Field(min_length=1, max_length=1000)


class EditionOut(BaseModel):
    edition: int
    audit_window_start: date
    audit_window_end: date
    referential_version: int
    referential_frozen_at: datetime | None
    registration_closed_at: datetime | None
    structures: int
    channel_mix: dict[str, int]
    seed: str
    auditors: list[str]

    @classmethod
    def of(cls, edition: AuditEdition, structures: int) -> EditionOut:
        return cls(
            edition=edition.year,
            audit_window_start=edition.audit_window_start,
            audit_window_end=edition.audit_window_end,
            referential_version=edition.referential_version,
            referential_frozen_at=edition.frozen_at,
            registration_closed_at=edition.registration_closed_at,
            structures=structures,
            channel_mix=edition.channel_mix,
            seed=edition.seed,
            auditors=edition.auditors,
        )


class PlannedProbeOut(BaseModel):
    slot: int
    channel: Channel
    site_id: UUID
    site_name: str
    planned_on: date
    auditor_id: str
    probe_id: UUID | None = Field(description="The probe that fulfilled this slot, if any.")


class PlanOut(BaseModel):
    edition: int
    registration_id: UUID
    structure_name: str
    participation: str
    seed: str
    channel_mix: dict[str, int]
    probes_planned: int
    probes_recorded: int
    probes: list[PlannedProbeOut]

    @classmethod
    def of(cls, structure: PanelStructure) -> PlanOut:
        assert structure.plan is not None
        assert structure.plan_seed is not None
        names = {s["site_id"]: s["name"] for s in structure.sites}
        return cls(
            edition=structure.year,
            registration_id=structure.registration_id,
            structure_name=structure.name,
            participation=structure.participation,
            seed=structure.plan_seed,
            channel_mix=structure.channel_mix,
            probes_planned=len(structure.plan),
            probes_recorded=len(structure.probes),
            probes=[
                PlannedProbeOut(
                    **p,
                    site_name=names.get(p["site_id"], ""),
                    probe_id=structure.probes.get(p["slot"]),
                )
                for p in structure.plan
            ],
        )


class ProbeIn(Body):
    probe_id: UUID = Field(
        description="Chosen by the client, once per probe: sending it again is safe (idempotent)."
    )
    registration_id: UUID
    site_id: UUID
    channel: Channel
    auditor_id: AuditorId
    performed_at: AwareDatetime = Field(description="When the contact happened, with its offset.")
    answers: dict[str, AnswerValue] = Field(
        max_length=500, description='Item code → true/false, a number, a choice, or "n/a".'
    )
    measures: Measures = Field(default_factory=Measures)

    def submission(self) -> ProbeSubmission:
        return ProbeSubmission(
            probe_id=self.probe_id,
            registration_id=self.registration_id,
            site_id=self.site_id,
            channel=self.channel,
            auditor_id=self.auditor_id,
            performed_at=self.performed_at,
            answers=self.answers,
            measures=self.measures,
        )


class ProbeBatchIn(Body):
    probes: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=500,
        description="Up to 500 probes, each as for POST /editions/{year}/probes; each is "
        "checked and recorded on its own.",
    )


class ProbeResult(BaseModel):
    index: int = Field(description="The probe's position in the batch, from 0.")
    probe_id: str | None
    status: int = Field(description="201 recorded, 200 already recorded the same, or 4xx/5xx.")
    error: dict[str, Any] | None = Field(None, description="Why it was refused, as a 4xx body.")


class ProbeBatchOut(BaseModel):
    recorded: int
    already_present: int
    refused: int
    results: list[ProbeResult]


class CorrectionIn(Body):
    answers: dict[str, AnswerValue] = Field(default_factory=dict, max_length=500)
    measures: dict[str, bool | int | str | None] = Field(default_factory=dict, max_length=20)
    reason: str = Field(min_length=1, max_length=2000)


class RevisionOut(BaseModel):
    revision: int
    kind: str = Field(description="recorded, or correction")
    at: datetime
    by: str
    reason: str | None
    answers: dict[str, Any] = Field(description="All answers when recorded; then what changed.")
    measures: dict[str, Any]


class ProbeOut(BaseModel):
    probe_id: UUID
    edition: int
    registration_id: UUID
    site_id: UUID
    channel: Channel
    slot: int
    auditor_id: str
    performed_at: datetime
    referential_version: int
    revision: int
    answers: dict[str, Any] = Field(description="The current answers, corrections applied.")
    measures: dict[str, Any]
    recorded_at: datetime
    history: list[RevisionOut]

    @classmethod
    def of(cls, probe: Probe) -> ProbeOut:
        recorded = RevisionOut(
            revision=1,
            kind="recorded",
            at=probe.recorded_at,
            by=probe.recorded_by,
            reason=None,
            answers=probe.recorded_answers,
            measures=probe.recorded_measures,
        )
        corrections = [
            RevisionOut(
                revision=c["revision"],
                kind="correction",
                at=c["corrected_at"],
                by=c["corrected_by"],
                reason=c["reason"],
                answers=c["answers"],
                measures=c["measures"],
            )
            for c in probe.corrections
        ]
        return cls(
            probe_id=probe.probe_id,
            edition=probe.year,
            registration_id=probe.registration_id,
            site_id=probe.site_id,
            channel=Channel(probe.channel),
            slot=probe.slot,
            auditor_id=probe.auditor_id,
            performed_at=probe.performed_at,
            referential_version=probe.referential_version,
            revision=probe.revision,
            answers=probe.answers,
            measures=probe.measures,
            recorded_at=probe.recorded_at,
            history=[recorded, *corrections],
        )
