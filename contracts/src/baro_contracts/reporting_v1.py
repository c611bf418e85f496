"""reporting.v1: the public events of the reporting service, version 1.

Subjects are `reporting.v1.<edition year>.<event name>` on the REPORTING stream.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, Field, StringConstraints

from baro_contracts.base import ContractEvent, ContractModel

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ReportKind(StrEnum):
    SYNTHESIS = "synthesis"
    """The national synthesis of an edition (one per edition and fingerprint)."""
    PAID = "paid"
    """A paying structure's detailed report."""
    FREE = "free"
    """A free structure's one-page result."""


class LaureateMention(ContractModel):
    registration_id: UUID = Field(description="A laureate of the edition.")
    mention: Line | None = Field(None, description="e.g. « numérique », « compétence accueil ».")
    remarkable_point: Paragraph | None = None


class Initiative(ContractModel):
    title: Line
    text: Paragraph
    link: AnyHttpUrl | None = None


class ReferenceFigure(ContractModel):
    """A figure from outside the barometer to compare with, e.g. the private sector's."""

    code: str = Field(pattern=r"^[a-z0-9_]{1,64}$", description="The KPI code it compares with.")
    label: Line
    public: Decimal = Field(ge=0, le=100_000)
    private: Decimal = Field(ge=0, le=100_000)
    unit: Literal["percent", "points", "seconds", "rings", "days"] = "percent"
    source: Line = Field(description="Where the figure comes from (study, year).")


class EditorialContent(ContractModel):
    laureates: list[LaureateMention] = Field(default_factory=list, max_length=100)
    initiatives: list[Initiative] = Field(default_factory=list, max_length=50)
    references: list[ReferenceFigure] = Field(default_factory=list, max_length=50)


class EditorialRevised(ContractEvent):
    """An admin revised an edition's editorial content: this is the whole new version."""

    service: ClassVar[str] = "reporting"
    version: ClassVar[int] = 1
    name: ClassVar[str] = "editorial_revised"
    event_type: Literal["reporting.v1.editorial_revised"] = "reporting.v1.editorial_revised"
    editorial_version: int = Field(ge=1)
    content: EditorialContent
    revised_by: str
    revised_at: datetime


class ReportRendered(ContractEvent):
    """A report was rendered from published results and stored. The same (fingerprint,
    structure, kind, template version) is rendered once: its bytes never change."""

    service: ClassVar[str] = "reporting"
    version: ClassVar[int] = 1
    name: ClassVar[str] = "report_rendered"
    event_type: Literal["reporting.v1.report_rendered"] = "reporting.v1.report_rendered"
    report_id: UUID = Field(description="Derived from the four values that identify it.")
    kind: ReportKind
    registration_id: UUID | None = Field(description="The structure; None for the synthesis.")
    fingerprint: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="The published results it was made from."
    )
    template_version: str
    editorial_version: int = Field(ge=0, description="0: no editorial content was entered.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the PDF file.")
    input_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the JSON document the PDF was rendered from (it embeds it).",
    )
    pages: int = Field(ge=1)
    size_bytes: int = Field(ge=1)


EVENTS: tuple[type[ContractEvent], ...] = (EditorialRevised, ReportRendered)
