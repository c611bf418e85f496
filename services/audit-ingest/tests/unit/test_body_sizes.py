"""The largest legitimate bodies fit under their routes' limits, with room to spare: a full
batch of the longest probes, and a referential of as many items as one may have."""

from __future__ import annotations

import json

import pytest

from audit_builders import probe_body, referential_body, structure_registered
from baro_audit_ingest.api import LARGER_BODIES
from baro_audit_ingest.schemas import ProbeBatchIn, ReferentialIn
from baro_chassis.settings import DEFAULT_MAX_BODY_BYTES
from baro_contracts.audit_v1 import Channel

pytestmark = pytest.mark.unit


def max_length(field: object) -> int:
    return next(m.max_length for m in field.metadata if hasattr(m, "max_length"))  # type: ignore[attr-defined]


def size(body: object) -> int:
    return len(json.dumps(body, indent=2).encode())  # pretty-printed: the larger way to send


def test_a_full_batch_of_the_longest_probes_fits_the_batch_limit() -> None:
    structure = structure_registered()
    longest = max(Channel, key=lambda c: size(probe_body(structure, c)))
    most = max_length(ProbeBatchIn.model_fields["probes"])
    batch = {"probes": [probe_body(structure, longest, auditor_id="A" * 64) for _ in range(most)]}
    (batch_limit,) = LARGER_BODIES.values()
    assert size(batch) * 4 < batch_limit
    assert size(batch) < DEFAULT_MAX_BODY_BYTES  # the default would take it too, today


def test_a_referential_of_the_most_items_fits_the_default_limit() -> None:
    body = referential_body()
    most = max_length(ReferentialIn.model_fields["items"])
    per_item = size(body["items"]) / len(body["items"])
    assert per_item * most * 1.5 < DEFAULT_MAX_BODY_BYTES
