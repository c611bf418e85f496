"""audit.v1: the public events of the audit-ingest service, version 1.

Subjects are `audit.v1.<edition year>.<event name>` on the AUDIT stream. A referential is
published with all its items, so a consumer (scoring) needs nothing else to score a probe.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from baro_contracts.base import ContractEvent, ContractModel


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    MAIL = "mail"
    WEBSITE = "website"
    SOCIAL = "social"
    VISIT = "visit"


class Step(StrEnum):
    ACCESS = "access"
    INFORMATION = "information"
    PROCESSING = "processing"


class Family(StrEnum):
    """The public families the 20 determinants belong to."""

    ACCESSIBILITY = "accessibility"
    WAITING_MANAGEMENT = "waiting_management"
    REACTIVITY = "reactivity"
    TRANSFER_EFFICIENCY = "transfer_efficiency"
    COURTESY = "courtesy"
    COMPLAINTS_MANAGEMENT = "complaints_management"
    PERSONALISATION = "personalisation"
    ANSWER_QUALITY = "answer_quality"


class SocialNetwork(StrEnum):
    FACEBOOK = "facebook"
    X = "x"


NOT_APPLICABLE = "n/a"
"""The answer for an item that does not apply: left out of the score entirely."""

Score = Annotated[Decimal, Field(ge=0, le=1, description="An item score in [0, 1].")]


class Determinant(ContractModel):
    code: str = Field(pattern=r"^D[0-9]{2}$")
    label: str = Field(min_length=1)
    family: Family


class YesNoAnswer(ContractModel):
    """Answered true (score 1) or false (score 0)."""

    type: Literal["yes_no"] = "yes_no"


class Threshold(ContractModel):
    up_to: StrictInt | StrictFloat = Field(description="Inclusive upper bound of the value.")
    score: Score


class MeasureAnswer(ContractModel):
    """A measured number, scored by the first threshold it does not exceed."""

    type: Literal["measure"] = "measure"
    unit: str = Field(min_length=1)
    minimum: StrictInt | StrictFloat
    maximum: StrictInt | StrictFloat
    thresholds: list[Threshold] = Field(min_length=1)
    otherwise: Score = Field(description="The score of a value above every threshold.")


class ChoiceAnswer(ContractModel):
    """One of a closed list of values, each with its score."""

    type: Literal["choice"] = "choice"
    choices: dict[str, Score] = Field(min_length=2)


AnswerSpec = Annotated[YesNoAnswer | MeasureAnswer | ChoiceAnswer, Field(discriminator="type")]


class Item(ContractModel):
    code: str = Field(pattern=r"^[A-Z]{3}-[A-Z]{3}-[0-9]{2,3}$")
    label: str = Field(min_length=1)
    channel: Channel
    step: Step
    determinant: str = Field(pattern=r"^D[0-9]{2}$")
    weight: Decimal = Field(gt=0, default=Decimal(1))
    measure: str | None = Field(
        default=None, description="The probe measure this item scores, when it scores one."
    )
    answer: AnswerSpec


AnswerValue = StrictBool | StrictInt | StrictFloat | StrictStr
"""true/false for yes/no items, a number for measures, a choice's value, or "n/a"."""


class Measures(ContractModel):
    """What the mystery citizen measured, for the national KPIs; each channel has its own."""

    answered_first_attempt: bool | None = Field(None, description="phone")
    rings: int | None = Field(None, ge=0, le=100, description="phone")
    waiting_seconds: int | None = Field(None, ge=0, le=36_000, description="phone, visit")
    answered: bool | None = Field(None, description="email, mail, social")
    reply_delay_hours: int | None = Field(None, ge=0, le=24 * 120, description="email, social")
    reply_delay_days: int | None = Field(None, ge=0, le=120, description="mail")
    network: SocialNetwork | None = Field(None, description="social")
    rgaa_compliant: bool | None = Field(None, description="website")
    satisfaction_synthesis_published: bool | None = Field(None, description="website")
    navigation_help: bool | None = Field(None, description="website")
    online_procedures: bool | None = Field(None, description="website")
    polite_formula: bool | None = Field(None, description="phone, email, mail, social replies")


class PlannedProbe(ContractModel):
    slot: int = Field(ge=1, description="1..13 (14 with the visit option).")
    channel: Channel
    site_id: UUID
    planned_on: date
    auditor_id: str


class AuditEvent(ContractEvent):
    service: ClassVar[str] = "audit"
    version: ClassVar[int] = 1


class ReferentialPublished(AuditEvent):
    """A version of an edition's referential: every determinant and item, with weights and
    scoring rules. The latest version before the edition's first probe is the one it uses."""

    name: ClassVar[str] = "referential_published"
    event_type: Literal["audit.v1.referential_published"] = "audit.v1.referential_published"
    referential_version: int = Field(ge=1)
    referential_name: str
    description: str
    determinants: list[Determinant]
    items: list[Item]
    published_at: datetime


class ReferentialFrozen(AuditEvent):
    """The edition's first probe was recorded: this referential version is final for it."""

    name: ClassVar[str] = "referential_frozen"
    event_type: Literal["audit.v1.referential_frozen"] = "audit.v1.referential_frozen"
    referential_version: int = Field(ge=1)
    frozen_at: datetime


class PlanIssued(AuditEvent):
    """A panel structure's audit plan: which channel, site, day and auditor for each probe."""

    name: ClassVar[str] = "plan_issued"
    event_type: Literal["audit.v1.plan_issued"] = "audit.v1.plan_issued"
    registration_id: UUID
    seed: str = Field(description="Recomputing the plan from this seed gives the same plan.")
    channel_mix: dict[Channel, int]
    probes: list[PlannedProbe]
    issued_at: datetime


class ProbeRecorded(AuditEvent):
    """A probe as the mystery citizen recorded it: every item answer and the measures."""

    name: ClassVar[str] = "probe_recorded"
    event_type: Literal["audit.v1.probe_recorded"] = "audit.v1.probe_recorded"
    probe_id: UUID
    registration_id: UUID
    site_id: UUID
    channel: Channel
    slot: int = Field(ge=1, description="The plan slot this probe fulfils.")
    auditor_id: str
    performed_at: datetime
    referential_version: int
    answers: dict[str, AnswerValue]
    measures: Measures
    recorded_at: datetime
    recorded_by: str


class ProbeCorrected(AuditEvent):
    """A correction of a recorded probe: only what changed, who changed it and why."""

    name: ClassVar[str] = "probe_corrected"
    event_type: Literal["audit.v1.probe_corrected"] = "audit.v1.probe_corrected"
    probe_id: UUID
    registration_id: UUID
    revision: int = Field(ge=2, description="1 is the recorded probe; each correction adds one.")
    answers: dict[str, AnswerValue] = Field(description="The changed answers only.")
    measures: dict[str, bool | int | str | None] = Field(description="The changed measures only.")
    reason: str
    corrected_by: str
    corrected_at: datetime


EVENTS: tuple[type[AuditEvent], ...] = (
    ReferentialPublished,
    ReferentialFrozen,
    PlanIssued,
    ProbeRecorded,
    ProbeCorrected,
)
