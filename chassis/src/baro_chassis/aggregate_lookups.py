"""Keyed lookups derived from an aggregate's own events, kept beside the event store rather
than in the aggregate, whose snapshot would otherwise grow with every entry (an edition's
quotes, order forms and credit notes).

Each row is derived from one stored event: (scope = the aggregate's id, position = the
event's version, lookup, key, value). The rows are never written by commands, only derived
from what is stored, so they cannot diverge from the events: a failed save leaves no row,
and `catch_up(scope, version)` brings the rows up to the aggregate a command just loaded
by reading that aggregate's events after the last one derived. An aggregate's events are
committed in version order (each save loaded the version before it), so the rows of a scope
always derive from a gap-free prefix of its events, and catching up from the highest
position is complete; inserting a row twice changes nothing, so concurrent catch-ups agree.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from psycopg import sql

from baro_chassis.eventstore import TracedApplication
from baro_chassis.side_tables import create_once

PAGE = 1000


class Entry(NamedTuple):
    """One row a stored event derives: in the `lookup` named so, `key` → `value`."""

    lookup: str
    key: str
    value: str


Derivation = Callable[[Any], Iterable[Entry]]
"""The entries one domain event derives, at most one per lookup."""


class AggregateLookups(Protocol):
    def catch_up(self, scope: UUID, version: int) -> None:
        """Derive the entries of the scope's stored events up to `version`."""
        ...

    def value(self, scope: UUID, lookup: str, key: str) -> str | None:
        """The key's value, for a lookup where each key has one (None when absent)."""
        ...

    def values(self, scope: UUID, lookup: str, key: str) -> list[str]:
        """The key's values, in the order their events were recorded."""
        ...

    def entries(self, scope: UUID, lookup: str) -> list[tuple[str, str]]:
        """Every (key, value) of the lookup: keys in the order each first appeared, then
        each key's values in order."""
        ...


class _DerivedLookups:
    """What both twins share: reading a scope's events after the last one derived."""

    def __init__(self, application: TracedApplication, derivations: Mapping[str, Derivation]):
        self._application = application
        self._derivations = dict(derivations)
        """Event topic → what an event of that topic derives."""
        self._derived_to: dict[UUID, int] = {}
        """Scope → the version of its last event this process derived (a cache: the rows
        are the truth)."""
        self._lock = threading.Lock()

    def catch_up(self, scope: UUID, version: int) -> None:
        with self._lock:
            known = self._derived_to.get(scope)
        start = known if known is not None else self._highest_position(scope)
        while start < version:
            stored = self._application.recorder.select_events(
                scope, gt=start, lte=version, limit=PAGE
            )
            if not stored:
                break  # `version` counts events not saved yet: there is nothing after
            self._insert(scope, list(self._derive(stored)))
            start = stored[-1].originator_version
        with self._lock:
            self._derived_to[scope] = max(start, self._derived_to.get(scope, 0))

    def _derive(self, stored: Iterable[Any]) -> Iterable[tuple[int, Entry]]:
        for stored_event in stored:
            derive = self._derivations.get(stored_event.topic)
            if derive is None:
                continue
            event = self._application.mapper.to_domain_event(stored_event)
            for entry in derive(event):
                yield stored_event.originator_version, entry

    def _stored_rows(self) -> Iterator[tuple[UUID, list[tuple[int, Entry]]]]:
        """Every scope's rows, derived from the events already stored: each scope from its
        own events in version order, not from the notification log's pages, which may be
        read before an earlier event of the scope commits and after a later one does."""
        for scope in self._scopes_with_events():
            start = 0
            while True:
                stored = self._application.recorder.select_events(scope, gt=start, limit=PAGE)
                yield scope, list(self._derive(stored))
                if len(stored) < PAGE:
                    break
                start = stored[-1].originator_version

    def _scopes_with_events(self) -> list[UUID]:
        """The aggregates that recorded an event these lookups derive from (one that
        records its first meanwhile is caught up when it is next used)."""
        scopes: dict[UUID, None] = {}
        start: int | None = None
        topics = list(self._derivations)
        while True:
            page = self._application.recorder.select_notifications(
                start, PAGE, topics=topics, inclusive_of_start=start is None
            )
            for notification in page:
                scopes[UUID(str(notification.originator_id))] = None
            if len(page) < PAGE:
                return list(scopes)
            start = page[-1].id

    def value(self, scope: UUID, lookup: str, key: str) -> str | None:
        found = self.values(scope, lookup, key)
        return found[0] if found else None

    def values(self, scope: UUID, lookup: str, key: str) -> list[str]:
        raise NotImplementedError

    def _highest_position(self, scope: UUID) -> int:
        raise NotImplementedError

    def _insert(self, scope: UUID, rows: list[tuple[int, Entry]]) -> None:
        raise NotImplementedError


class InMemoryAggregateLookups(_DerivedLookups):
    def __init__(
        self, application: TracedApplication, derivations: Mapping[str, Derivation]
    ) -> None:
        super().__init__(application, derivations)
        self._rows: dict[UUID, dict[tuple[int, str], Entry]] = {}
        self._rows_lock = threading.Lock()
        for scope, rows in self._stored_rows():
            self._insert(scope, rows)

    def _highest_position(self, scope: UUID) -> int:
        with self._rows_lock:
            return max((position for position, _ in self._rows.get(scope, {})), default=0)

    def _insert(self, scope: UUID, rows: list[tuple[int, Entry]]) -> None:
        with self._rows_lock:
            scoped = self._rows.setdefault(scope, {})
            for position, entry in rows:
                scoped.setdefault((position, entry.lookup), entry)

    def _ordered(self, scope: UUID, lookup: str) -> list[Entry]:
        with self._rows_lock:
            rows = sorted(self._rows.get(scope, {}).items())
        return [entry for (_, name), entry in rows if name == lookup]

    def values(self, scope: UUID, lookup: str, key: str) -> list[str]:
        return [e.value for e in self._ordered(scope, lookup) if e.key == key]

    def entries(self, scope: UUID, lookup: str) -> list[tuple[str, str]]:
        by_key: dict[str, list[str]] = {}
        for entry in self._ordered(scope, lookup):
            by_key.setdefault(entry.key, []).append(entry.value)
        return [(key, value) for key, values in by_key.items() for value in values]


class PostgresAggregateLookups(_DerivedLookups):
    def __init__(
        self,
        application: TracedApplication,
        table: str,
        derivations: Mapping[str, Derivation],
    ) -> None:
        if not re.fullmatch(r"[a-z_]+", table):
            raise ValueError(f"not a table name: {table!r}")
        super().__init__(application, derivations)
        self._datastore = application._datastore
        self._table = table
        self._name = sql.Identifier(table)

    def create_table(self) -> None:
        """Create the table if it is missing, filled from every stored event it derives from."""

        def create(cur: Any) -> None:
            cur.execute(
                sql.SQL(
                    "CREATE TABLE {} ("
                    " scope uuid NOT NULL, position bigint NOT NULL, lookup text NOT NULL,"
                    " key text NOT NULL, value text NOT NULL,"
                    " PRIMARY KEY (scope, position, lookup))"
                ).format(self._name)
            )
            cur.execute(
                sql.SQL("CREATE INDEX {} ON {} (scope, lookup, key)").format(
                    sql.Identifier(f"{self._table}_key"), self._name
                )
            )
            for scope, rows in self._stored_rows():
                self._insert_with(cur, scope, rows)

        create_once(self._datastore, self._table, create)

    def _highest_position(self, scope: UUID) -> int:
        with self._datastore.transaction(commit=False) as cur:
            cur.execute(
                sql.SQL("SELECT max(position) AS highest FROM {} WHERE scope = %s").format(
                    self._name
                ),
                (scope,),
            )
            row = cur.fetchone()
            return int(row["highest"]) if row and row["highest"] is not None else 0

    def _insert(self, scope: UUID, rows: list[tuple[int, Entry]]) -> None:
        if rows:
            with self._datastore.transaction(commit=True) as cur:
                self._insert_with(cur, scope, rows)

    def _insert_with(self, cur: Any, scope: UUID, rows: list[tuple[int, Entry]]) -> None:
        if not rows:
            return
        positions = [position for position, _ in rows]
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (scope, position, lookup, key, value) "
                "SELECT %s, * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) "
                "ON CONFLICT DO NOTHING"
            ).format(self._name),
            (
                scope,
                positions,
                [e.lookup for _, e in rows],
                [e.key for _, e in rows],
                [e.value for _, e in rows],
            ),
        )

    def values(self, scope: UUID, lookup: str, key: str) -> list[str]:
        with self._datastore.transaction(commit=False) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT value FROM {} WHERE scope = %s AND lookup = %s AND key = %s "
                    "ORDER BY position"
                ).format(self._name),
                (scope, lookup, key),
            )
            return [row["value"] for row in cur.fetchall()]

    def entries(self, scope: UUID, lookup: str) -> list[tuple[str, str]]:
        with self._datastore.transaction(commit=False) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT key, value FROM {} WHERE scope = %s AND lookup = %s "
                    "ORDER BY min(position) OVER (PARTITION BY key), position"
                ).format(self._name),
                (scope, lookup),
            )
            return [(row["key"], row["value"]) for row in cur.fetchall()]


def open_aggregate_lookups(
    application: TracedApplication, table: str, derivations: Mapping[str, Derivation]
) -> AggregateLookups:
    """The application's lookups derived from its aggregates' events (`derivations`: event
    topic → the entries an event of it derives), in `table` on PostgreSQL, created and
    filled from the events already stored, so a store written before it loses nothing."""
    if application._datastore is None:
        return InMemoryAggregateLookups(application, derivations)
    lookups = PostgresAggregateLookups(application, table, derivations)
    lookups.create_table()
    return lookups
