"""No event over MAX_EVENT_BYTES is recorded: NATS refuses messages over 1 MiB, and the
in-order relay would retry such an event forever, holding back every event after it."""

from __future__ import annotations

import pytest
from eventsourcing.domain import Aggregate, event

from baro_chassis.eventstore import MAX_EVENT_BYTES, EventTooLarge, TracedApplication


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.texts = [text]

    @event("Added")
    def add(self, text: str) -> None:
        self.texts.append(text)


class Notes(TracedApplication):
    snapshotting_intervals = {Note: 10}


def test_an_event_over_the_limit_is_refused_and_nothing_of_the_save_is_recorded() -> None:
    notes = Notes()
    note = Note("first")
    notes.save(note)
    note.add("x" * MAX_EVENT_BYTES)
    with pytest.raises(EventTooLarge) as refused:
        notes.save(note)
    assert "Note.Added event of 524," in str(refused.value)
    assert notes.repository.get(note.id).texts == ["first"]


def test_a_snapshot_over_the_limit_is_kept_because_it_is_never_published() -> None:
    notes = Notes()
    note = Note("first")
    for _ in range(10):
        note.add("x" * (MAX_EVENT_BYTES // 8))
    notes.save(note)  # its 11th event takes a snapshot, larger than an event may be
    snapshots = list(notes.snapshots.get(note.id)) if notes.snapshots else []
    assert snapshots
    assert len(notes.mapper.to_stored_event(snapshots[0]).state) > MAX_EVENT_BYTES
    assert len(notes.repository.get(note.id).texts) == 11
