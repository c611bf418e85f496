"""The fault suite's own counting: a write missing at a stage is lost, one found twice is
duplicated, and writing is back only once a write succeeds after the last failure."""

from __future__ import annotations

from collections import Counter

import pytest
from fault_counts import StageCounts, Verdict
from fault_load import Ledger

pytestmark = pytest.mark.unit


def test_a_write_acknowledged_but_missing_or_doubled_at_a_stage_is_reported() -> None:
    counts = StageCounts(
        stored=Counter({"a": 1, "b": 1, "c": 1}),
        streamed=Counter({"a": 1, "b": 2, "c": 1, "earlier": 3}),
        scored=Counter({"a": 1, "b": 1}),
    )

    verdict = Verdict.of({"a", "b", "c"}, counts, sent={"a", "b", "c", "d"})

    assert verdict.lost == {"stored": set(), "streamed": set(), "scored": {"c"}}
    assert verdict.duplicated["streamed"] == {"b": 2}  # "earlier" is another case's write
    assert verdict.found("scored") == 2
    assert not counts.holds({"a", "b", "c"})
    said = verdict.problems("probes")
    assert any("1 acknowledged probes not scored" in line for line in said), said
    assert any("1 probes streamed twice or more" in line for line in said), said


def test_a_stage_that_cannot_be_read_holds_nothing() -> None:
    counts = StageCounts(stored=Counter({"a": 1}), streamed=None, scored=Counter({"a": 1}))

    assert not counts.holds({"a"})
    assert Verdict.of({"a"}, counts, sent={"a"}).lost["streamed"] == {"a"}


def test_writing_is_back_at_the_first_success_after_the_last_failure() -> None:
    ledger = Ledger(failure_times=[11.0, 12.0, 14.0], success_times=[9.0, 13.0, 15.5, 16.0])

    assert ledger.writes_back_after(10.0) == 15.5
    assert ledger.writes_back_after(20.0) == 20.0  # nothing failed after that fault
    assert Ledger(failure_times=[11.0], success_times=[9.0]).writes_back_after(10.0) is None
