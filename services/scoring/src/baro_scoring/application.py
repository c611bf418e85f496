"""The scoring application's write side: publications, event-sourced so the relay can
publish them. Everything else scoring holds is a projection (`projections.py`)."""

from __future__ import annotations

from typing import Any

from baro_chassis.eventstore import TracedApplication
from baro_scoring.domain import Publication


class ScoringApplication(TracedApplication):
    name = "scoring"

    def record_publication(self, **published: Any) -> Publication:
        results = Publication(**published)
        self.save(results)
        return results

    def publication(self, edition: int) -> Publication | None:
        return self.find(Publication, Publication.create_id(edition))
