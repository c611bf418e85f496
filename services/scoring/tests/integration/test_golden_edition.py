"""An edition published before today's scoring replays, from its recorded streams, to the
fingerprint it was published with."""

from __future__ import annotations

import asyncio

import pytest
from golden_edition import PUBLISHED_FINGERPRINT, YEAR, restore

from baro_chassis.settings import Settings
from baro_scoring.replay import replay

pytestmark = pytest.mark.integration


def test_an_edition_published_under_baro_scoring_1_replays_to_its_fingerprint(
    nats_url: str, scoring_settings: Settings
) -> None:
    restore(nats_url)
    outcome = asyncio.run(replay(scoring_settings, YEAR, progress=None))
    assert outcome.published is not None
    assert outcome.published.fingerprint == PUBLISHED_FINGERPRINT
    assert outcome.fingerprint == PUBLISHED_FINGERPRINT
    assert outcome.matches
    # What the recording holds besides: one message that is not a contract event, and one
    # correction that came after the publication.
    assert len(outcome.refused) == 1
    assert outcome.held == 1
    assert outcome.structures == 40
