"""Lookups derived from an aggregate's events, beside the event store: on real PostgreSQL,
filled on creation from the events already stored, then caught up to the aggregate a
command loaded; the in-memory twin answers the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate, event

from baro_chassis.aggregate_lookups import AggregateLookups, Entry, open_aggregate_lookups
from baro_chassis.eventstore import TracedApplication
from baro_chassis.postgres import eventsourcing_env

TABLE = "ledger_lookups"
NUMBERED = f"{__name__}:Ledger.Numbered"


class Ledger(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(UUID(int=0), name)

    @event("Opened")
    def __init__(self, name: str) -> None:
        self.count = 0

    @event("Numbered")
    def number(self, number: str, document: str) -> None:
        self.count += 1

    @event("Renamed")
    def rename(self, name: str) -> None:
        pass


def numbered(e: Any) -> list[Entry]:
    return [Entry("documents", e.number, e.document), Entry("numbers", e.document, e.number)]


class Ledgers(TracedApplication):
    name = "lookups_test"


def open_lookups(app: Ledgers) -> AggregateLookups:
    return open_aggregate_lookups(app, TABLE, {NUMBERED: numbered})


@pytest.fixture(params=["postgres", "memory"])
def app(request: pytest.FixtureRequest) -> Iterator[Ledgers]:
    if request.param == "memory":
        yield Ledgers()
        return
    database_url = request.getfixturevalue("database_url")
    ledgers = Ledgers(env=eventsourcing_env(database_url))
    yield ledgers
    ledgers.close()


@pytest.mark.integration
def test_entries_recorded_before_the_lookups_existed_are_found_after(app: Ledgers) -> None:
    ledger, other = Ledger("2026"), Ledger("2027")
    ledger.number("BC-1", "quote-a")
    ledger.rename("2026 bis")
    ledger.number("BC-2", "quote-b")
    other.number("BC-1", "quote-z")
    app.save(ledger, other)

    lookups = open_lookups(app)
    assert lookups.value(ledger.id, "documents", "BC-1") == "quote-a", "filled on creation"
    lookups.catch_up(ledger.id, ledger.version)
    lookups.catch_up(other.id, other.version)
    assert lookups.value(ledger.id, "documents", "BC-2") == "quote-b"
    assert lookups.value(other.id, "documents", "BC-1") == "quote-z"
    assert lookups.value(ledger.id, "documents", "BC-3") is None
    assert lookups.values(ledger.id, "numbers", "quote-a") == ["BC-1"]

    ledger.number("BC-3", "quote-a")
    lookups.catch_up(ledger.id, ledger.version)  # not saved yet: nothing to derive
    assert lookups.value(ledger.id, "documents", "BC-3") is None
    app.save(ledger)
    lookups.catch_up(ledger.id, ledger.version)
    assert lookups.values(ledger.id, "numbers", "quote-a") == ["BC-1", "BC-3"]
    assert lookups.entries(ledger.id, "numbers") == [
        ("quote-a", "BC-1"),
        ("quote-a", "BC-3"),
        ("quote-b", "BC-2"),
    ], "keys in the order they first appeared, then their values in order"


@pytest.mark.integration
def test_a_process_catches_up_what_another_saved_and_twice_changes_nothing(
    database_url: str,
) -> None:
    writer = Ledgers(env=eventsourcing_env(database_url))
    ledger = Ledger("2026")
    ledger.number("BC-1", "quote-a")
    writer.save(ledger)
    first = open_lookups(writer)
    first.catch_up(ledger.id, ledger.version)

    reader = Ledgers(env=eventsourcing_env(database_url))
    second = open_lookups(reader)  # the table exists: opened, not filled again
    ledger.number("BC-2", "quote-b")
    writer.save(ledger)
    loaded: Ledger = reader.repository.get(ledger.id)
    second.catch_up(loaded.id, loaded.version)
    first.catch_up(ledger.id, ledger.version)
    first.catch_up(ledger.id, ledger.version)
    for lookups in (first, second):
        assert lookups.entries(ledger.id, "documents") == [("BC-1", "quote-a"), ("BC-2", "quote-b")]
    writer.close()
    reader.close()
