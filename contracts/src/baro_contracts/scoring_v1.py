"""scoring.v1: the public events of the scoring service, version 1.

Subjects are `scoring.v1.<edition year>.<event name>` on the SCORING stream. The published
results document itself (the canonical text the fingerprint is the SHA-256 of) is in the
JetStream object store `RESULTS_BUCKET`, under `results_object_name(edition, fingerprint)`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from baro_contracts.base import ContractEvent, ContractModel
from baro_contracts.registration_v1 import Category

RESULTS_BUCKET = "SCORING_RESULTS"


def results_object_name(edition: int, fingerprint: str) -> str:
    """The published results document's name in `RESULTS_BUCKET`."""
    return f"{edition}/{fingerprint}.json"


class PublishedLaureate(ContractModel):
    category: Category
    registration_id: UUID
    structure_name: str
    global_score: Decimal = Field(description="Out of 100, full precision.")
    joint: bool = Field(description="Tied with another structure on both scores.")


class ResultsPublished(ContractEvent):
    """An edition's results were frozen and published. The fingerprint is the SHA-256 of the
    canonical serialisation of every structure's scores, the rankings, the laureates and the
    KPIs; a replay of the edition's events up to `included_through` reproduces it."""

    service: ClassVar[str] = "scoring"
    version: ClassVar[int] = 1
    name: ClassVar[str] = "results_published"
    event_type: Literal["scoring.v1.results_published"] = "scoring.v1.results_published"
    fingerprint: str = Field(pattern=r"^[0-9a-f]{64}$")
    method: str = Field(description="The scoring rules the results were computed with.")
    included_through: dict[str, int] = Field(
        description="Per producer (registration, audit), the last position of its event log "
        "included in the results; later events of the edition are not."
    )
    structures: int = Field(ge=0, description="Structures with a score.")
    national_score: Decimal | None
    laureates: list[PublishedLaureate]
    published_at: datetime
    published_by: str


EVENTS: tuple[type[ContractEvent], ...] = (ResultsPublished,)
