"""The API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from baro_chassis.bounds import MAX_VERSION
from baro_contracts.reporting_v1 import EditorialContent, ReportKind
from baro_reporting.domain import Editorial


class EditorialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: EditorialContent
    expected_version: int | None = Field(
        None,
        ge=0,
        le=MAX_VERSION,
        description="The version you read (0: none yet); refused with 409 if another "
        "revision came first. Leave out to overwrite whatever is there.",
    )


class EditorialOut(BaseModel):
    edition: int
    version: int = Field(description="0 when no content was entered yet.")
    content: EditorialContent
    revised_by: str | None
    revised_at: datetime | None

    @classmethod
    def of(
        cls,
        edition: int,
        found: Editorial | None,
        version: int | None = None,
        content: dict[str, Any] | None = None,
    ) -> EditorialOut:
        if found is None or found.editorial_version == 0:
            return cls(
                edition=edition,
                version=0,
                content=EditorialContent(),
                revised_by=None,
                revised_at=None,
            )
        return cls(
            edition=edition,
            version=found.editorial_version if version is None else version,
            content=EditorialContent.model_validate(found.content if content is None else content),
            revised_by=found.revised_by,
            revised_at=found.revised_at,
        )


class ReportOut(BaseModel):
    report_id: UUID
    edition: int
    kind: ReportKind
    registration_id: UUID | None
    fingerprint: str
    template_version: str
    editorial_version: int
    sha256: str = Field(description="SHA-256 of the PDF file.")
    input_sha256: str = Field(description="SHA-256 of the embedded data (donnees.json).")
    pages: int
    size_bytes: int
    current: bool = Field(description="Made from the edition's current publication.")
    pdf_url: str


class ReportList(BaseModel):
    edition: int
    fingerprint: str
    reports: list[ReportOut]


class SupersededOut(BaseModel):
    fingerprint: str
    published_at: datetime


class PublicationOut(BaseModel):
    edition: int
    fingerprint: str
    method: str
    published_at: datetime
    published_by: str
    included_through: dict[str, int]
    superseded: list[SupersededOut] = Field(
        description="Earlier publications of the edition, oldest first: their reports stay "
        "available by id, but documents are made from the current one."
    )
    reports_wanted: int
    reports_rendered: int


class BuildOut(BaseModel):
    edition: int
    fingerprint: str
    reports_wanted: int
    reports_rendered: int
    message: str
