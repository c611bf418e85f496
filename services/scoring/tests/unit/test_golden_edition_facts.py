"""The recorded edition 2029, computed from its events without NATS or PostgreSQL, gives
the fingerprint it was published with (see golden_edition.py)."""

from __future__ import annotations

import pytest
from golden_edition import PUBLISHED_FINGERPRINT, YEAR, recorded_messages
from pydantic import ValidationError

from baro_contracts.scoring_v1 import ResultsPublished
from baro_scoring.document import freeze
from baro_scoring.facts import EditionFacts, parse_fact, producer_position

pytestmark = pytest.mark.unit


def test_the_recorded_edition_computes_to_its_published_fingerprint() -> None:
    messages = recorded_messages()
    (published,) = [
        ResultsPublished.model_validate_json(m.data) for m in messages if m.stream == "SCORING"
    ]
    facts = EditionFacts(YEAR)
    for message in messages:
        if message.stream == "SCORING":
            continue
        try:
            event = parse_fact(message.data, message.subject).event
        except (KeyError, ValueError, ValidationError):
            continue  # the recording's one message that is not a contract event
        producer, position = producer_position(event.event_id)
        if position <= published.included_through[producer]:
            facts.add(event)
    assert published.fingerprint == PUBLISHED_FINGERPRINT
    assert freeze(facts).fingerprint == PUBLISHED_FINGERPRINT
