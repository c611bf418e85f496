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

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
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
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        gate: Gate | None = kwargs.get("gate")
        if gate is None:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        gated: Sequence[int] = self._insert_through(gate, stored_events)
        return gated

    @property
    def events_table(self) -> sql.Composable:
        return sql.Identifier(self.datastore.schema, self.events_table_name)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_through(self, gate: Gate, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        rows = [
            self.construct_pg_stored_event(
                originator_id=e.originator_id,
                originator_version=e.originator_version,
                topic=e.topic,
                state=e.state,
            )
            for e in stored_events
        ]
        if not self.datastore.enable_db_functions:
            raise ValueError("a GatedRecorder inserts with POSTGRES_ENABLE_DB_FUNCTIONS=y")
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cur:
            gate.enter(cur, self.events_table)
            cur.execute(self.sql_invoke_pg_function_insert_events, (rows,), prepare=True)
            ids = [r[self.pg_function_name_insert_events] for r in cur.fetchall()]
            gate.written(cur)
            return ids
