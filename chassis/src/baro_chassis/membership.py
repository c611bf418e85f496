"""Which aggregates belong to a group (an edition's registrations), kept beside the event store
rather than in the group's aggregate, whose snapshot would otherwise grow with every member.

A command adds the member *before* it saves the member's aggregate: a failed save leaves a
member whose aggregate does not exist, which readers skip, and never an aggregate no one lists.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from psycopg import sql

from baro_chassis.eventstore import TracedApplication
from baro_chassis.side_tables import create_once

BACKFILL_PAGE = 1000


class Membership(Protocol):
    def add(self, group: UUID, member: UUID) -> None: ...

    def members(self, group: UUID) -> list[UUID]:
        """The group's members, in the order they were added."""
        ...

    def count(self, group: UUID) -> int: ...


class InMemoryMembership:
    def __init__(self) -> None:
        self._groups: dict[UUID, dict[UUID, None]] = {}
        self._lock = threading.Lock()

    def add(self, group: UUID, member: UUID) -> None:
        with self._lock:
            self._groups.setdefault(group, {})[member] = None

    def members(self, group: UUID) -> list[UUID]:
        with self._lock:
            return list(self._groups.get(group, {}))

    def count(self, group: UUID) -> int:
        with self._lock:
            return len(self._groups.get(group, {}))


class PostgresMembership:
    def __init__(self, datastore: Any, table: str) -> None:
        if not re.fullmatch(r"[a-z_]+", table):
            raise ValueError(f"not a table name: {table!r}")
        self._datastore = datastore
        self._table = table
        self._name = sql.Identifier(table)

    def create_table(self, backfill: Callable[[], list[tuple[UUID, UUID]]]) -> None:
        """Create the table if it is missing, filled with `backfill()`'s members."""

        def create(cur: Any) -> None:
            cur.execute(
                sql.SQL(
                    "CREATE TABLE {} ("
                    " group_id uuid NOT NULL, member_id uuid NOT NULL,"
                    " position bigserial NOT NULL, PRIMARY KEY (group_id, member_id))"
                ).format(self._name)
            )
            self.insert(cur, backfill())

        create_once(self._datastore, self._table, create)

    def add(self, group: UUID, member: UUID) -> None:
        self.add_many([(group, member)])

    def add_many(self, pairs: list[tuple[UUID, UUID]]) -> None:
        with self._datastore.transaction(commit=True) as cur:
            self.insert(cur, pairs)

    def insert(self, cur: Any, pairs: list[tuple[UUID, UUID]]) -> None:
        """Add members in the caller's transaction (`cur`)."""
        if not pairs:
            return
        groups, members = zip(*pairs, strict=True)
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (group_id, member_id) "
                "SELECT * FROM unnest(%s::uuid[], %s::uuid[]) ON CONFLICT DO NOTHING"
            ).format(self._name),
            (list(groups), list(members)),
        )

    def members(self, group: UUID) -> list[UUID]:
        with self._datastore.transaction(commit=False) as cur:
            cur.execute(
                sql.SQL("SELECT member_id FROM {} WHERE group_id = %s ORDER BY position").format(
                    self._name
                ),
                (group,),
            )
            return [row["member_id"] for row in cur.fetchall()]

    def count(self, group: UUID) -> int:
        with self._datastore.transaction(commit=False) as cur:
            return self.count_in(cur, group)

    def count_in(self, cur: Any, group: UUID) -> int:
        """The group's member count, read in the caller's transaction (`cur`)."""
        cur.execute(
            sql.SQL("SELECT count(*) AS n FROM {} WHERE group_id = %s").format(self._name),
            (group,),
        )
        row = cur.fetchone()
        return int(row["n"]) if row else 0


def open_membership(
    application: TracedApplication, table: str, legacy_topic: str, member_attr: str
) -> Membership:
    """The application's membership table, filled on creation from the events that used to
    list members in the group's aggregate (`legacy_topic`, whose originator is the group and
    whose `member_attr` is the member), so that stores written before it lose no one."""
    datastore = application._datastore
    if datastore is None:
        memory = InMemoryMembership()
        for group, member in _legacy_pairs(application, legacy_topic, member_attr):
            memory.add(group, member)
        return memory
    membership = PostgresMembership(datastore, table)
    membership.create_table(lambda: _legacy_pairs(application, legacy_topic, member_attr))
    return membership


def _legacy_pairs(
    application: TracedApplication, topic: str, member_attr: str
) -> list[tuple[UUID, UUID]]:
    pairs: list[tuple[UUID, UUID]] = []
    start: int | None = None
    while True:
        page = application.recorder.select_notifications(
            start, BACKFILL_PAGE, topics=[topic], inclusive_of_start=start is None
        )
        for notification in page:
            event = application.mapper.to_domain_event(notification)
            pairs.append((event.originator_id, UUID(str(getattr(event, member_attr)))))
        if len(page) < BACKFILL_PAGE:
            return pairs
        start = page[-1].id
