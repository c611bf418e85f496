"""The reporting application: editorial content and the record of rendered reports."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from baro_chassis.eventstore import TracedApplication, retry_on_conflict
from baro_chassis.service import Clock, utc_now
from baro_reporting.domain import Editorial, NotFound, RenderedReport
from baro_reporting.facts import Editorial as EditorialFacts
from baro_reporting.facts import no_editorial


class ReportingApplication(TracedApplication):
    name = "reporting"

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.clock = clock

    # --- editorial content ------------------------------------------------------------------

    def revise_editorial(
        self, edition: int, content: dict[str, Any], by: str, expected: int | None
    ) -> Editorial:
        def attempt() -> Editorial:
            editorial = self.find(Editorial, Editorial.create_id(edition)) or Editorial(edition)
            editorial.revise(content, by, self.clock(), expected)
            self.save(editorial)
            return editorial

        return retry_on_conflict(attempt)

    def editorial(self, edition: int, version: int | None = None) -> EditorialFacts:
        """The edition's editorial content at `version` (default: the latest); version 0
        when none was entered."""
        found = self.find(Editorial, Editorial.create_id(edition))
        if found is None or found.editorial_version == 0:
            if version:
                raise NotFound(f"edition {edition} has no editorial version {version}", "version")
            return no_editorial(edition)
        if version is not None and version != found.editorial_version:
            if not 0 < version < found.editorial_version:
                raise NotFound(
                    f"edition {edition}'s editorial content has versions 1 to "
                    f"{found.editorial_version}",
                    "version",
                )
            # Started is the aggregate's version 1, so editorial version v is its v + 1.
            found = self.repository.get(found.id, version=version + 1)
        return EditorialFacts(edition, found.editorial_version, found.content)

    def editorial_record(self, edition: int) -> Editorial | None:
        return self.find(Editorial, Editorial.create_id(edition))

    # --- rendered reports -----------------------------------------------------------------

    def record_rendered(self, **report: Any) -> bool:
        """Record that a report was rendered; False when it was recorded already."""
        rendered = RenderedReport(**report)
        try:
            self.save(rendered)
        except IntegrityError:
            return False
        return True

    def rendered(self, report_id: UUID) -> RenderedReport | None:
        return self.find(RenderedReport, report_id)
