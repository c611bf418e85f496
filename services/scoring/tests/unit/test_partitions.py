"""A replay split by structure over worker processes gives the results of one computation
over everything: same fingerprint, same counts, nothing lost or counted twice."""

from __future__ import annotations

import pytest

from baro_contracts.base import ContractEvent
from baro_scoring import partitions
from baro_scoring.document import ResultsText, freeze, line_of
from baro_scoring.facts import EditionFacts
from baro_scoring.figures import edition_figures
from baro_scoring.partitions import (
    PROBE_EVENTS,
    Partition,
    PartitionOutput,
    Raw,
    Workers,
    owner_of,
    registration_of,
)
from scoring_builders import YEAR, Events, campaign

pytestmark = pytest.mark.unit


def raw(event: ContractEvent, sequence: int, *, with_header: bool = True) -> Raw:
    """A message as the replay reads it, with the headers relays put on it (or none, as
    before relays named the registration)."""
    body = event.model_dump_json().encode()
    headers = event.headers() if with_header else {"Nats-Msg-Id": event.event_id}
    return (event.subject, body, sequence, registration_of(headers, body))


def messages(events: list[ContractEvent], *, with_header: bool = True) -> list[Raw]:
    return [raw(e, n, with_header=with_header) for n, e in enumerate(events, start=1)]


def many_structures() -> list[ContractEvent]:
    e = Events()
    events, _ = campaign(e)
    for number in range(12):
        town = e.structure(f"Town {number}")
        probe = e.probe(town, "phone", slot=1)
        events += [town, e.plan(town, "phone", "email"), probe]
    events.append(e.correction(probe, answers={"PHO-ACC-01": False}))
    return events


def computed(workers: int, read: list[Raw], *, with_rows: bool) -> list[PartitionOutput]:
    """Each partition's output (lines and texts of its batches, then its counts), in this
    process, of messages routed as `Workers.add` routes them."""
    parts = [Partition(i, workers, YEAR, None, with_rows=with_rows) for i in range(workers)]
    shared = []
    for message in read:
        owner = owner_of(message[3], workers) if message[3] is not None else -1
        if owner < 0:
            shared.append(message)
        else:
            parts[owner].take([message], routed_here=True)
    outputs = []
    for part in parts:
        part.take(shared, routed_here=False)
        output = PartitionOutput()
        for batch in part.batches():
            output.lines += batch.lines
            output.texts += batch.texts
            output.rows += batch.rows
            output.refused += batch.refused
            output.probe_events += batch.probe_events
        outputs.append(output)
    return outputs


def fingerprint_of(outputs: list[PartitionOutput]) -> tuple[str, str]:
    text = ResultsText(YEAR, keep=True)
    for output in outputs:
        for structure_text in output.texts:
            text.add(structure_text)
    lines = [line for output in outputs for line in output.lines]
    return text.finish(edition_figures(YEAR, map(line_of, lines))), text.text


def test_a_message_is_routed_by_its_header_or_else_by_its_body() -> None:
    events = many_structures()
    with_header, without = messages(events), messages(events, with_header=False)
    assert [m[3] for m in with_header] == [m[3] for m in without]
    for event, message in zip(events, with_header, strict=True):
        registration_id = getattr(event, "registration_id", None)
        assert message[3] == (str(registration_id) if registration_id else None)


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("with_header", [True, False])
def test_partitions_together_give_the_fingerprint_of_one_computation(
    workers: int, with_header: bool
) -> None:
    events = many_structures()
    expected = freeze(EditionFacts(YEAR).add_all(events))
    outputs = computed(workers, messages(events, with_header=with_header), with_rows=True)
    assert fingerprint_of(outputs) == (expected.fingerprint, expected.text)
    # each fact is stored (and each probe event counted) once, whichever partition has it
    rows = [row for output in outputs for row in output.rows]
    assert sorted(row[0] for row in rows) == sorted(e.event_id for e in events)
    probe_events = sum(isinstance(e, PROBE_EVENTS) for e in events)
    assert sum(output.probe_events for output in outputs) == probe_events


def fed(workers: Workers, read: list[Raw]) -> list[tuple[int, PartitionOutput]]:
    """The messages fed to the workers as a replay reads them; their batches as they come."""
    with workers:
        for message in read:
            workers.add(message)
        workers.close()
        return list(workers.batches())


@pytest.mark.parametrize("chunk", [1, 1000])
def test_worker_processes_fed_while_reading_give_what_one_process_gives(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions, "CHUNK", chunk)
    monkeypatch.setattr(partitions, "BATCH", 3)  # several batches per partition
    events = many_structures()
    received = fed(Workers(2, YEAR, None, with_rows=False), messages(events))
    assert {index for index, _ in received} == {0, 1}
    by_partition = [PartitionOutput(), PartitionOutput()]
    for index, batch in received:
        by_partition[index].texts += batch.texts
        by_partition[index].lines += batch.lines
    expected = freeze(EditionFacts(YEAR).add_all(events))
    assert fingerprint_of(by_partition) == (expected.fingerprint, expected.text)
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
        fed(Workers(2, YEAR, None, with_rows=False), messages(many_structures() * 20))


def test_a_message_that_is_no_contract_event_is_refused_once() -> None:
    events = many_structures()
    read = messages(events)
    about_one = b'{"registration_id":"9e0b2c4e-8f4a-4a43-9a57-3c1f1f0a9b11","answers":1}'
    read.append(("audit.v1.2027.probe_recorded", about_one, len(read) + 1, None))
    read.append(("audit.v1.2027.probe_recorded", b"not json", len(read) + 1, None))
    read[-2] = (*read[-2][:3], registration_of(None, about_one))
    outputs = computed(2, read, with_rows=False)
    refused = [line for output in outputs for line in output.refused]
    assert len(refused) == 2
    assert any(line.startswith(f"audit.v1.2027.probe_recorded #{len(read)}: ") for line in refused)


def test_a_header_naming_another_registration_than_the_event_stops_the_replay() -> None:
    events = many_structures()
    read = messages(events)
    subject, body, sequence, _ = next(m for m in read if m[3] is not None)
    lying = (subject, body, sequence, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(RuntimeError, match="in its header but is about"):
        computed(1, [*read, lying], with_rows=False)
