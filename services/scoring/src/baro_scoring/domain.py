"""The one thing scoring decides rather than derives: that an edition's results are
published, with their fingerprint. Scores themselves are projections of other services'
events (see `results.py`); a publication is an event-sourced fact, relayed as
`scoring.v1.results_published`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

NAMESPACE = uuid5(NAMESPACE_URL, "https://barometre.afnor.org/scoring")


class ScoringError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ScoringError):
    pass


class Conflict(ScoringError):
    pass


class Publication(Aggregate):
    """An edition's publication: created once, when its results are published."""

    @staticmethod
    def create_id(edition: int) -> UUID:
        return uuid5(NAMESPACE, f"results/{edition}")

    @event("Published")
    def __init__(
        self,
        *,
        edition: int,
        fingerprint: str,
        method: str,
        included_through: dict[str, int],
        structures: int,
        national_score: str | None,
        laureates: list[dict[str, Any]],
        published_at: datetime,
        published_by: str,
    ) -> None:
        self.edition = edition
        self.fingerprint = fingerprint
        self.method = method
        self.included_through = included_through
        self.structures = structures
        self.national_score = national_score
        self.laureates = laureates
        self.published_at = published_at
        self.published_by = published_by


# Publications were saved as `EditionResults` before it was renamed: their stored events
# keep that topic.
register_topic(f"{__name__}:EditionResults", Publication)
register_topic(f"{__name__}:EditionResults.Published", getattr(Publication, "Published"))  # noqa: B009
