"""Saves that wait on, and check, something beside their aggregates, in their own transaction.

An aggregate's version serialises the commands that write it. Some rules span many aggregates
that share no aggregate to write: a registration must not slip past its edition's close, but
writing the edition at every registration would serialise all of them on its version. A `Gate`
given to `save(..., gate=...)` runs inside the save's transaction, before and after the events
are inserted: it takes an advisory lock (shared by many, or exclusive), checks that what its
command read is still so (raising `IntegrityError`, which `retry_on_conflict` answers by running
the command again), and writes the rows that must commit with the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor, sql
from psycopg.rows import DictRow

GATED_RECORDER_TOPIC = "baro_chassis.gate:GatedRecorder"
"""Give as APPLICATION_RECORDER_TOPIC to an application whose saves pass a gate."""


class Gate(Protocol):
    def enter(self, cur: Cursor[DictRow], events_table: sql.Composable) -> None:
        """Lock and check, before the events are inserted; raise IntegrityError to refuse."""
        ...

    def written(self, cur: Cursor[DictRow]) -> None:
        """Write what must commit with the events, after they are inserted."""
        ...


class GatedRecorder(PostgresApplicationRecorder):
    """eventsourcing's recorder, running a save's gate in the transaction that inserts its
    events: before them (and before the table lock that keeps notification ids in commit
    order), and after them."""

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        gate: Gate | None = kwargs.get("gate")
        if gate is not None:
            gate.enter(curs, sql.Identifier(self.datastore.schema, self.events_table_name))

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids: Sequence[int] | None = super()._fetch_ids_after_insert_events(
            curs, stored_events, **kwargs
        )
        gate: Gate | None = kwargs.get("gate")
        if gate is not None:
            gate.written(curs)
        return ids
