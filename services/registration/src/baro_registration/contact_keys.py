"""The contacts' data keys, one per registration, kept outside the event store.

Erasing a registration's contacts deletes its key and keeps a tombstone saying when and by
whom: the events keep their ciphertext, which nothing can open any more. A key is never
created again once erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from baro_registration.contact_access import Actor

CONTACT_KEYS_DDL = """
CREATE TABLE IF NOT EXISTS contact_keys (
    registration_id uuid PRIMARY KEY,
    key bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz,
    erased_by_role text,
    erased_by_subject text,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
)
"""


@dataclass(frozen=True)
class Erasure:
    erased_at: datetime
    role: str
    subject: str


class ContactKeys(Protocol):
    def create(self, registration_id: UUID, key: bytes) -> None:
        """Keep `key` for this registration, unless it has one (or had one) already."""

    def lookup(self, registration_id: UUID) -> bytes | Erasure | None:
        """The registration's key, the tombstone of its erasure, or None if it never had one."""

    def key_for(self, registration_id: UUID, new_key: bytes) -> bytes | Erasure:
        """The registration's key, created as `new_key` if it has none yet."""

    def erase(self, registration_id: UUID, by: Actor, at: datetime) -> Erasure:
        """Delete the key, keeping a tombstone; erasing again answers the first erasure."""

    def discard_unused(self, registration_id: UUID) -> None:
        """Forget the key made for a registration that was refused and never recorded."""


class PostgresContactKeys:
    """The `contact_keys` table of registration's database, through the event store's pool."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore

    def create_table(self) -> None:
        with self._datastore.get_connection() as conn:
            conn.execute(CONTACT_KEYS_DDL)

    def create(self, registration_id: UUID, key: bytes) -> None:
        with self._datastore.get_connection() as conn:
            conn.execute(
                "INSERT INTO contact_keys (registration_id, key) VALUES (%s, %s) "
                "ON CONFLICT (registration_id) DO NOTHING",
                (registration_id, key),
            )

    def lookup(self, registration_id: UUID) -> bytes | Erasure | None:
        with self._datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT key, erased_at, erased_by_role, erased_by_subject "
                "FROM contact_keys WHERE registration_id = %s",
                (registration_id,),
            ).fetchone()
        return None if row is None else _key_or_erasure(row)

    def key_for(self, registration_id: UUID, new_key: bytes) -> bytes | Erasure:
        self.create(registration_id, new_key)
        found = self.lookup(registration_id)
        assert found is not None
        return found

    def erase(self, registration_id: UUID, by: Actor, at: datetime) -> Erasure:
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                "INSERT INTO contact_keys (registration_id, key, erased_at, erased_by_role, "
                "erased_by_subject) VALUES (%s, NULL, %s, %s, %s) "
                "ON CONFLICT (registration_id) DO UPDATE SET key = NULL, "
                "erased_at = EXCLUDED.erased_at, erased_by_role = EXCLUDED.erased_by_role, "
                "erased_by_subject = EXCLUDED.erased_by_subject "
                "WHERE contact_keys.erased_at IS NULL",
                (registration_id, at, by.role, by.subject),
            )
            row = cursor.execute(
                "SELECT key, erased_at, erased_by_role, erased_by_subject "
                "FROM contact_keys WHERE registration_id = %s",
                (registration_id,),
            ).fetchone()
        assert row is not None
        erasure = _key_or_erasure(row)
        assert isinstance(erasure, Erasure)
        return erasure

    def discard_unused(self, registration_id: UUID) -> None:
        with self._datastore.get_connection() as conn:
            conn.execute(
                "DELETE FROM contact_keys WHERE registration_id = %s AND erased_at IS NULL",
                (registration_id,),
            )


def _key_or_erasure(row: dict[str, Any]) -> bytes | Erasure:
    if row["key"] is not None:
        return bytes(row["key"])
    return Erasure(row["erased_at"], row["erased_by_role"], row["erased_by_subject"])


class InMemoryContactKeys:
    """The same, in memory, for the application without PostgreSQL (unit tests)."""

    def __init__(self) -> None:
        self._keys: dict[UUID, bytes | Erasure] = {}

    def create(self, registration_id: UUID, key: bytes) -> None:
        self._keys.setdefault(registration_id, key)

    def lookup(self, registration_id: UUID) -> bytes | Erasure | None:
        return self._keys.get(registration_id)

    def key_for(self, registration_id: UUID, new_key: bytes) -> bytes | Erasure:
        return self._keys.setdefault(registration_id, new_key)

    def erase(self, registration_id: UUID, by: Actor, at: datetime) -> Erasure:
        found = self._keys.get(registration_id)
        if not isinstance(found, Erasure):
            found = self._keys[registration_id] = Erasure(at, by.role, by.subject)
        return found

    def discard_unused(self, registration_id: UUID) -> None:
        if not isinstance(self._keys.get(registration_id), Erasure):
            self._keys.pop(registration_id, None)
