"""A publication saved before its aggregate was renamed (`EditionResults` to `Publication`)
is still read, and still relayed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from baro_scoring.application import ScoringApplication
from baro_scoring.domain import Publication
from baro_scoring.translation import ScoringTranslator

pytestmark = pytest.mark.unit

OLD_TOPIC = "baro_scoring.domain:EditionResults.Published"


def test_a_publication_stored_under_the_old_name_is_read_and_relayed() -> None:
    application = ScoringApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    application.record_publication(
        edition=2026,
        fingerprint="ab" * 32,
        method="baro-scoring-1",
        included_through={"audit": 9, "registration": 4},
        structures=1,
        national_score="50",
        laureates=[],
        published_at=datetime(2026, 6, 1, tzinfo=UTC),
        published_by="admin",
    )
    # As a scoring of before the rename stored it: the old class name in its topic.
    stored = application.recorder._stored_events  # type: ignore[attr-defined]
    assert [event.topic for event in stored] == ["baro_scoring.domain:Publication.Published"]
    stored[0] = dataclasses.replace(stored[0], topic=OLD_TOPIC)

    found = application.publication(2026)
    assert isinstance(found, Publication)
    assert found.fingerprint == "ab" * 32
    assert ScoringTranslator(application).publishes(OLD_TOPIC)
