"""A replay split by structure over worker processes gives the results of one computation
over everything: same fingerprint, same counts, nothing lost or counted twice."""

from __future__ import annotations

import pytest

from baro_contracts.base import ContractEvent
from baro_scoring import partitions
from baro_scoring.facts import EditionFacts
from baro_scoring.fingerprint import results_text
from baro_scoring.partitions import (
    PROBE_EVENTS,
    Partition,
    PartitionOutput,
    Routed,
    Workers,
    owner_of,
)
from baro_scoring.projections import freeze, frozen_results
from scoring_builders import YEAR, Events, campaign

pytestmark = pytest.mark.unit


def routed(events: list[ContractEvent], workers: int, *extra: tuple[str, bytes]) -> Routed:
    routing = Routed(workers)
    for sequence, event in enumerate(events, start=1):
        routing.add(event.subject, event.model_dump_json().encode(), sequence)
    for sequence, (subject, body) in enumerate(extra, start=len(events) + 1):
        routing.add(subject, body, sequence)
    return routing


def compute_partition(index: int, routing: Routed, *, with_rows: bool) -> PartitionOutput:
    """One partition of messages already read, computed in this process."""
    partition = Partition(index, routing.workers, YEAR, None, with_rows=with_rows)
    partition.take(routing.owned[index], routed_here=True)
    partition.take(routing.shared, routed_here=False)
    out = PartitionOutput()
    for batch in partition.batches():
        out.add(batch)
    return out


def many_structures() -> list[ContractEvent]:
    e = Events()
    events, _ = campaign(e)
    for number in range(12):
        town = e.structure(f"Town {number}")
        probe = e.probe(town, "phone", slot=1)
        events += [town, e.plan(town, "phone", "email"), probe]
    events.append(e.correction(probe, answers={"PHO-ACC-01": False}))
    return events


def test_each_structure_is_routed_to_one_partition_and_the_rest_to_all() -> None:
    events = many_structures()
    routing = routed(events, 2)
    # every message once, shared ones (no structure named: edition, referential) apart
    assert sum(len(part) for part in routing.owned) + len(routing.shared) == len(events)
    shared = {body for _, body, _ in routing.shared}
    for event in events:
        registration_id = getattr(event, "registration_id", None)
        body = event.model_dump_json().encode()
        if registration_id is None:
            assert body in shared
        else:
            index = owner_of(str(registration_id), 2)
            assert body in {b for _, b, _ in routing.owned[index]}
    assert all(routing.owned)  # both partitions have structures


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_partitions_together_give_the_fingerprint_of_one_computation(workers: int) -> None:
    events = many_structures()
    expected = freeze(EditionFacts(YEAR).add_all(events))
    routing = routed(events, workers)
    outputs = [compute_partition(i, routing, with_rows=True) for i in range(workers)]
    frozen = frozen_results(
        YEAR,
        [line for output in outputs for line in output.lines],
        [text for output in outputs for text in output.texts],
    )
    assert frozen.fingerprint == expected.fingerprint
    assert frozen.text == expected.text
    # each fact is stored (and each probe event counted) once, whichever partition has it
    rows = [row for output in outputs for row in output.rows]
    assert sorted(row[0] for row in rows) == sorted(e.event_id for e in events)
    probe_events = sum(isinstance(e, PROBE_EVENTS) for e in events)
    assert sum(output.probe_events for output in outputs) == probe_events


def fed(workers: Workers, events: list[ContractEvent]) -> list[tuple[int, PartitionOutput]]:
    """The events fed to the workers as a replay reads them; their batches as they come."""
    with workers:
        for sequence, event in enumerate(events, start=1):
            workers.add(event.subject, event.model_dump_json().encode(), sequence)
        workers.close()
        return list(workers.batches())


@pytest.mark.parametrize("chunk", [1, 1000])
def test_worker_processes_fed_while_reading_give_what_one_process_gives(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions, "CHUNK", chunk)
    monkeypatch.setattr(partitions, "BATCH", 3)  # several batches per partition
    events = many_structures()
    received = fed(Workers(2, YEAR, None, with_rows=False), events)
    assert {index for index, _ in received} == {0, 1}
    by_partition: list[list[str]] = [[], []]
    for index, batch in received:
        by_partition[index] += batch.texts
    texts = by_partition[0] + by_partition[1]
    expected = freeze(EditionFacts(YEAR).add_all(events))
    lines = [line for _, batch in received for line in batch.lines]
    assert len(texts) == len(lines) == len(expected.lines)
    assert results_text(YEAR, texts, expected.summary) == expected.text
    assert sum(batch.probe_events for _, batch in received) == sum(
        isinstance(e, PROBE_EVENTS) for e in events
    )


def test_a_failing_worker_stops_the_replay_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partitions, "CHUNK", 1)  # the failed worker is still being fed

    def fail(self: Partition, *args: object, **kwargs: object) -> None:
        if self.index == 1:
            raise ValueError("partition 1 cannot go on")

    monkeypatch.setattr(Partition, "take", fail)
    with pytest.raises(ValueError, match="partition 1 cannot go on"):
        fed(Workers(2, YEAR, None, with_rows=False), many_structures() * 20)


def test_a_message_that_is_no_contract_event_is_refused_once() -> None:
    events = many_structures()
    junk = ("audit.v1.2027.probe_recorded", b'{"registration_id":"9e0b","answers":1}')
    shared_junk = ("audit.v1.2027.probe_recorded", b"not json")
    routing = routed(events, 2, junk, shared_junk)
    outputs = [compute_partition(i, routing, with_rows=False) for i in range(2)]
    refused = [line for output in outputs for line in output.refused]
    assert len(refused) == 2
    junk_sequence = len(events) + 1
    assert any(
        line.startswith(f"audit.v1.2027.probe_recorded #{junk_sequence}: ") for line in refused
    )
