"""Saves commit in notification id order, gated or not: a save whose transaction is still open
holds back every later save, so a reader of the log (the relay) never passes an id whose
event commits after it. On real PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from eventsourcing.domain import Aggregate, event

from baro_chassis.eventstore import TracedApplication
from baro_chassis.gate import GATED_RECORDER_TOPIC
from baro_chassis.postgres import eventsourcing_env

pytestmark = pytest.mark.integration


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class Notes(TracedApplication):
    name = "gate_test"
    env = {"APPLICATION_RECORDER_TOPIC": GATED_RECORDER_TOPIC}


class HeldOpen:
    """A gate that keeps its save's transaction open, its events inserted, until released."""

    def __init__(self) -> None:
        self.inserted, self.released = threading.Event(), threading.Event()

    def enter(self, cur: Any, events_table: Any) -> None:
        pass

    def written(self, cur: Any) -> None:
        self.inserted.set()
        assert self.released.wait(60)


def waiting_on_a_lock(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0


def test_a_save_still_open_holds_back_the_saves_after_it(database_url: str) -> None:
    app = Notes(env=eventsourcing_env(database_url))
    held, first, second = HeldOpen(), Note("first"), Note("second")
    saving_first = threading.Thread(target=app.save, args=(first,), kwargs={"gate": held})
    saving_second = threading.Thread(target=app.save, args=(second,))
    try:
        saving_first.start()
        assert held.inserted.wait(30), "the gate runs in the save's transaction"
        saving_second.start()
        deadline = time.monotonic() + 30
        while saving_second.is_alive() and not waiting_on_a_lock(database_url):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert saving_second.is_alive(), "the second save committed before the first"
        assert app.recorder.select_notifications(start=1, limit=10) == []
    finally:
        held.released.set()
        saving_first.join(30)
        saving_second.join(30)
    logged = app.recorder.select_notifications(start=1, limit=10)
    assert [n.originator_id for n in logged] == [first.id, second.id]
    app.close()
