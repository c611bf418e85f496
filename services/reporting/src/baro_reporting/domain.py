"""Reporting's aggregates and errors, with no I/O.

- `Editorial`: an edition's admin-entered content (laureates' mentions and remarkable
  points, inspiring initiatives, reference figures), versioned: every revision is a new
  event, and a document names the version it was made with.
- `RenderedReport`: one report, identified by what it was made from (fingerprint, kind,
  structure, template and editorial versions), so that it is recorded, and announced, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

NAMESPACE = UUID("5d0b3c47-2f7e-4b8e-9c1a-6a8f0e9d2b74")


class ReportingError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ReportingError):
    """Refused as malformed or inconsistent (422)."""


class Conflict(ReportingError):
    """Refused because of the current state (409)."""


class NotFound(ReportingError):
    """Nothing of that kind exists (404)."""


class NotYet(ReportingError):
    """An event depends on one that has not arrived yet: retried by the consumer."""


class Refused(ReportingError):
    """An event that must not be taken (a document that does not match its fingerprint):
    dead-lettered with the reason."""


class Editorial(Aggregate):
    @staticmethod
    def create_id(edition: int) -> UUID:
        return uuid5(NAMESPACE, f"editorial:{edition}")

    @event("Started")
    def __init__(self, edition: int) -> None:
        self.edition = edition
        self.editorial_version = 0
        self.content: dict[str, Any] = {}
        self.revised_by = ""
        self.revised_at: datetime | None = None

    def revise(self, content: dict[str, Any], by: str, at: datetime, expected: int | None) -> None:
        if expected is not None and expected != self.editorial_version:
            if self._is_last_revision(content, by, expected):
                return  # the same request again (a retry): answered as the first time
            raise Conflict(
                f"edition {self.edition}'s editorial content is at version "
                f"{self.editorial_version}, not {expected}: someone revised it meanwhile; "
                "read it again and resubmit with expected_version set to the version you read",
                "expected_version",
            )
        if content == self.content:
            return
        self._revised(content, by, at)

    def _is_last_revision(self, content: dict[str, Any], by: str, expected: int) -> bool:
        """Whether `by` made the latest version from `expected` with this very content."""
        return (expected + 1, content, by) == (
            self.editorial_version,
            self.content,
            self.revised_by,
        )

    @event("Revised")
    def _revised(self, content: dict[str, Any], by: str, at: datetime) -> None:
        self.content = content
        self.editorial_version += 1
        self.revised_by = by
        self.revised_at = at


def report_id(
    kind: str,
    registration_id: str | None,
    fingerprint: str,
    template_version: str,
    editorial_version: int,
) -> UUID:
    return uuid5(
        NAMESPACE,
        f"report:{kind}:{registration_id or '-'}:{fingerprint}:{template_version}:"
        f"{editorial_version}",
    )


class RenderedReport(Aggregate):
    @staticmethod
    def create_id(
        kind: str,
        registration_id: str | None,
        fingerprint: str,
        template_version: str,
        editorial_version: int,
    ) -> UUID:
        return report_id(kind, registration_id, fingerprint, template_version, editorial_version)

    @event("Rendered")
    def __init__(
        self,
        kind: str,
        registration_id: str | None,
        fingerprint: str,
        template_version: str,
        editorial_version: int,
        edition: int,
        sha256: str,
        input_sha256: str,
        pages: int,
        size_bytes: int,
    ) -> None:
        self.kind = kind
        self.registration_id = registration_id
        self.fingerprint = fingerprint
        self.template_version = template_version
        self.editorial_version = editorial_version
        self.edition = edition
        self.sha256 = sha256
        self.input_sha256 = input_sha256
        self.pages = pages
        self.size_bytes = size_bytes
