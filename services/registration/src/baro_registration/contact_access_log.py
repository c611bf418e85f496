"""Who read, corrected or erased which contact fields, and when: an append-only table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from baro_registration.contact_access import Actor

ACCESS_LOG_DDL = (
    """
    CREATE TABLE IF NOT EXISTS contact_access_log (
        entry bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        registration_id uuid NOT NULL,
        action text NOT NULL,
        fields text[] NOT NULL,
        actor_role text NOT NULL,
        actor_subject text NOT NULL,
        at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS contact_access_log_by_registration "
    "ON contact_access_log (registration_id, entry)",
    """
    CREATE OR REPLACE FUNCTION contact_access_log_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'contact_access_log is append-only';
    END $$
    """,
    "CREATE OR REPLACE TRIGGER contact_access_log_append_only "
    "BEFORE UPDATE OR DELETE OR TRUNCATE ON contact_access_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION contact_access_log_is_append_only()",
)


class Action(StrEnum):
    READ = "read"
    CORRECTED = "corrected"
    ERASED = "erased"


@dataclass(frozen=True)
class AccessEntry:
    registration_id: UUID
    action: Action
    fields: list[str]
    actor_role: str
    actor_subject: str
    at: datetime


class ContactAccessLog(Protocol):
    def record(
        self, registration_id: UUID, action: Action, fields: list[str], by: Actor, at: datetime
    ) -> None: ...

    def entries(self, registration_id: UUID) -> list[AccessEntry]:
        """The registration's entries, oldest first."""


class PostgresContactAccessLog:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore

    def create_table(self) -> None:
        with self._datastore.get_connection() as conn:
            for statement in ACCESS_LOG_DDL:
                conn.execute(statement)

    def record(
        self, registration_id: UUID, action: Action, fields: list[str], by: Actor, at: datetime
    ) -> None:
        with self._datastore.get_connection() as conn:
            conn.execute(
                "INSERT INTO contact_access_log "
                "(registration_id, action, fields, actor_role, actor_subject, at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (registration_id, action.value, fields, by.role, by.subject, at),
            )

    def entries(self, registration_id: UUID) -> list[AccessEntry]:
        with self._datastore.get_connection() as conn:
            rows = conn.execute(
                "SELECT registration_id, action, fields, actor_role, actor_subject, at "
                "FROM contact_access_log WHERE registration_id = %s ORDER BY entry",
                (registration_id,),
            ).fetchall()
        return [
            AccessEntry(
                registration_id=row["registration_id"],
                action=Action(row["action"]),
                fields=list(row["fields"]),
                actor_role=row["actor_role"],
                actor_subject=row["actor_subject"],
                at=row["at"],
            )
            for row in rows
        ]


class InMemoryContactAccessLog:
    """The same, in memory, for the application without PostgreSQL (unit tests)."""

    def __init__(self) -> None:
        self._entries: list[AccessEntry] = []

    def record(
        self, registration_id: UUID, action: Action, fields: list[str], by: Actor, at: datetime
    ) -> None:
        entry = AccessEntry(registration_id, action, fields, by.role, by.subject, at)
        self._entries.append(entry)

    def entries(self, registration_id: UUID) -> list[AccessEntry]:
        return [e for e in self._entries if e.registration_id == registration_id]
