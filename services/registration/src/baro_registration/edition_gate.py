"""What keeps registrations and an edition's close apart, without writing the edition at each
registration (which serialised every registration of an edition on its version).

A registration saves its structure and registration holding the edition's gate *shared*, and
only if the edition is still at the version it read (so still open); the edition's member row
commits with it. The close saves holding the gate *exclusive*, and only if the edition still
has the number of members it decided on. So a registration either commits before the close
lists the members, and is decided by it, or sees the edition closed and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from baro_chassis.membership import Membership, PostgresMembership


@dataclass(frozen=True)
class EditionGate:
    membership: Membership
    edition_id: UUID
    edition_version: int | None = None
    """A registration's: the version of the edition it found open."""
    admitted: UUID | None = None
    """A registration's: the registration it adds to the edition."""
    registered: int | None = None
    """The close's: how many registrations it decided on."""

    @classmethod
    def admitting(
        cls, membership: Membership, edition_id: UUID, edition_version: int, registration_id: UUID
    ) -> EditionGate:
        return cls(
            membership, edition_id, edition_version=edition_version, admitted=registration_id
        )

    @classmethod
    def closing(cls, membership: Membership, edition_id: UUID, registered: int) -> EditionGate:
        return cls(membership, edition_id, registered=registered)

    @property
    def exclusive(self) -> bool:
        return self.registered is not None

    def problem(self, edition_version: int, registered: int) -> str | None:
        """Why the command must be run again on what the store holds now, if it must."""
        if self.edition_version is not None and edition_version != self.edition_version:
            return f"edition {self.edition_id} changed since the registration read it"
        if self.registered is not None and registered != self.registered:
            return f"edition {self.edition_id} gained a registration while closing"
        return None

    # --- PostgreSQL: in the save's transaction (baro_chassis.gate) ---------------------

    def enter(self, cur: Cursor[DictRow], events_table: sql.Composable) -> None:
        lock = "pg_advisory_xact_lock" if self.exclusive else "pg_advisory_xact_lock_shared"
        cur.execute(
            sql.SQL("SELECT {}(hashtextextended(%s, 0))").format(sql.Identifier(lock)),
            (f"edition-gate/{self.edition_id}",),
        )
        cur.execute(
            sql.SQL(
                "SELECT coalesce(max(originator_version), 0) AS version FROM {} "
                "WHERE originator_id = %s"
            ).format(events_table),
            (self.edition_id,),
        )
        row = cur.fetchone()
        version = int(row["version"]) if row else 0
        registered = self._postgres().count_in(cur, self.edition_id) if self.exclusive else 0
        if (problem := self.problem(version, registered)) is not None:
            raise IntegrityError(problem)

    def written(self, cur: Cursor[DictRow]) -> None:
        if self.admitted is not None:
            self._postgres().insert(cur, [(self.edition_id, self.admitted)])

    def _postgres(self) -> PostgresMembership:
        assert isinstance(self.membership, PostgresMembership)
        return self.membership
