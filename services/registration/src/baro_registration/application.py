"""The registration application: one method per command (get, act, save)."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from baro_chassis.eventstore import Contention, TracedApplication, retry_on_conflict
from baro_chassis.gate import GATED_RECORDER_TOPIC
from baro_chassis.membership import open_membership
from baro_chassis.service import Clock, utc_now
from baro_contracts.registration_v1 import Participation
from baro_registration.contact_access_log import (
    ContactAccessLog,
    InMemoryContactAccessLog,
    PostgresContactAccessLog,
)
from baro_registration.contact_keys import ContactKeys, InMemoryContactKeys, PostgresContactKeys
from baro_registration.contact_sealing import Sealer, new_data_key
from baro_registration.contacts import RegistrationContacts
from baro_registration.domain import (
    Edition,
    FreePlaceCandidate,
    NotFound,
    Registration,
    RegistrationConflict,
    RegistrationError,
    Structure,
)
from baro_registration.edition_gate import EditionGate


class RegistrationApplication(TracedApplication):
    name = "registration"
    env = {"APPLICATION_RECORDER_TOPIC": GATED_RECORDER_TOPIC}
    # Editions recorded before the gate have an event per registration: snapshots keep them
    # cheap to load.
    snapshotting_intervals = {Edition: 50}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.clock = clock
        self._memory_gate = threading.Lock()
        self.contact_keys: ContactKeys = InMemoryContactKeys()
        self.contact_log: ContactAccessLog = InMemoryContactAccessLog()
        if self._datastore is not None:
            keys = PostgresContactKeys(self._datastore)
            log = PostgresContactAccessLog(self._datastore)
            keys.create_table()
            log.create_table()
            self.contact_keys, self.contact_log = keys, log
        self.contacts = RegistrationContacts(self, self.contact_keys, self.contact_log)
        self.edition_registrations = open_membership(
            self,
            "edition_registrations",
            legacy_topic="baro_registration.domain:Edition.RegistrationAdmitted",
            member_attr="registration_id",
        )
        """Edition id → its registrations' ids, each committed with its registration."""

    def _save_through(self, gate: EditionGate, *aggregates: Any) -> None:
        """Save `aggregates` through the edition's gate (see edition_gate)."""
        if self._datastore is not None:
            self.save(*aggregates, gate=gate)
            return
        with self._memory_gate:  # kept in memory (unit tests), one lock does the gate's work
            edition: Edition = self.repository.get(gate.edition_id)
            registered = self.edition_registrations.count(gate.edition_id)
            if (problem := gate.problem(edition.version, registered)) is not None:
                raise IntegrityError(problem)
            self.save(*aggregates)
            if gate.admitted is not None:
                self.edition_registrations.add(gate.edition_id, gate.admitted)

    # --- editions -----------------------------------------------------------------------

    def open_edition(
        self,
        *,
        year: int,
        registration_deadline: date,
        audit_window_start: date,
        audit_window_end: date,
        free_places: int,
    ) -> Edition:
        edition = Edition.open(
            year=year,
            registration_deadline=registration_deadline,
            audit_window_start=audit_window_start,
            audit_window_end=audit_window_end,
            free_places=free_places,
        )
        existing: Edition | None = self.find(Edition, edition.id)
        if existing is None:
            self.save(edition)
            return edition
        if _edition_terms(existing) == _edition_terms(edition):
            return existing  # a retry of the opening
        raise RegistrationConflict(
            f"edition {year} already exists with other dates or free places", "year"
        )

    def edition(self, year: int) -> Edition:
        edition: Edition | None = self.find(Edition, Edition.create_id(year))
        if edition is None:
            raise NotFound(f"edition {year} does not exist: create it first (POST /editions)")
        return edition

    # --- registrations ------------------------------------------------------------------

    def register(self, year: int, *, contacts: dict[str, Any], **fields: Any) -> Registration:
        """Register a structure; the same declaration again (a retry) answers the registration
        it made, a different one for the same SIRET and edition is a conflict."""
        registration_id, key = uuid4(), new_data_key()

        def attempt() -> Registration:
            now = self.clock()
            edition = self.edition(year)
            registration = Registration.register(
                registration_id=registration_id,
                seal=Sealer(key, registration_id),
                year=year,
                registered_at=now,
                contacts=contacts,
                **fields,
            )
            structure = self.find(Structure, Structure.create_id(registration.siret))
            if structure is None:
                structure = Structure(siret=registration.siret)
            elif (earlier := structure.registration_in(year)) is not None:
                return self._same_registration(earlier, registration, contacts)
            edition.ensure_open(now)
            structure.enrol(year, registration.id)
            self.contact_keys.create(registration_id, key)
            gate = EditionGate.admitting(
                self.edition_registrations, edition.id, edition.version, registration.id
            )
            self._save_through(gate, structure, registration)
            return registration

        try:
            registration = retry_on_conflict(attempt)
        except (RegistrationError, Contention):
            self.contact_keys.discard_unused(registration_id)  # nothing was saved
            raise
        if registration.id != registration_id:
            self.contact_keys.discard_unused(registration_id)
        return registration

    def _same_registration(
        self, earlier_id: UUID, candidate: Registration, contacts: dict[str, Any]
    ) -> Registration:
        """The registration `earlier_id` if it was made by the same declaration (contacts
        included) as `candidate`, else the conflict."""
        first: Registration = self.repository.get(earlier_id, version=1)
        first_contacts = self.contacts.as_first_recorded(first)
        if first.declaration() == candidate.declaration() and first_contacts == contacts:
            registration: Registration = self.repository.get(earlier_id)
            return registration
        if first_contacts is None:
            raise RegistrationConflict(
                f"SIRET {candidate.siret} is already registered for edition {candidate.year} "
                "and its contacts were erased since: read it, or give it new contacts",
                "siret",
            )
        raise RegistrationConflict(
            f"SIRET {candidate.siret} is already registered for edition {candidate.year} "
            "with other details: read it, or correct its contacts or add sites to it",
            "siret",
        )

    def registration(self, year: int, registration_id: UUID) -> Registration:
        registration: Registration | None = self.find(Registration, registration_id)
        if registration is None or registration.year != year:
            self.edition(year)  # an unknown edition is reported as such
            raise NotFound(f"registration {registration_id} does not exist in edition {year}")
        return registration

    def registered(self, edition: Edition) -> int:
        """How many registrations the edition has."""
        return self.edition_registrations.count(edition.id)

    def registrations(self, year: int) -> list[Registration]:
        return self._found(self.edition_registrations.members(self.edition(year).id))

    def _found(self, listed: list[UUID]) -> list[Registration]:
        found = (self.find(Registration, rid) for rid in listed)
        # Members used to be listed before their registration was saved: one whose save
        # failed then is listed and not found.
        return [r for r in found if r is not None]

    def add_site(self, year: int, registration_id: UUID, site: dict[str, Any]) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            registration = self.registration(year, registration_id)
            if (same := registration.site_like(site)) is not None:
                return same  # a retry of the addition
            self.edition(year).ensure_open(self.clock())
            recorded = registration.add_site(site)
            self.save(registration)
            return recorded

        return retry_on_conflict(attempt)

    def sign_order_form(self, year: int, registration_id: UUID, signed_by: str) -> Registration:
        def attempt() -> Registration:
            registration = self.registration(year, registration_id)
            if registration.signed_by(signed_by):
                return registration  # a retry of the signature
            registration.sign_order_form(signed_by, self.clock())
            self.save(registration)
            return registration

        return retry_on_conflict(attempt)

    def switch_to_paid(
        self, year: int, registration_id: UUID, options: dict[str, bool] | None
    ) -> Registration:
        def attempt() -> Registration:
            registration = self.registration(year, registration_id)
            if registration.switched_to_paid_with(options):
                return registration  # a retry of the switch
            registration.switch_to_paid(options)
            self.save(registration)
            return registration

        return retry_on_conflict(attempt)

    # --- close and free places ----------------------------------------------------------

    def close_registration(self, year: int) -> tuple[Edition, list[Registration]]:
        """Close the edition and decide every free registration; one atomic save. Closing a
        closed edition answers its close (a retry: closing has nothing to differ in)."""

        def attempt() -> tuple[Edition, list[Registration]]:
            edition = self.edition(year)
            listed = self.edition_registrations.members(edition.id)
            registrations = self._found(listed)
            if edition.closed_at is not None:
                decided = [r for r in registrations if r.free_place is not None]
                return edition, sorted(decided, key=lambda r: int((r.free_place or {})["rank"]))
            awaiting = [
                r
                for r in registrations
                if r.participation == Participation.FREE.value and r.free_place is None
            ]
            paid = sum(1 for r in registrations if r.participation == Participation.PAID.value)
            candidates = [
                FreePlaceCandidate(r.id, r.registered_at, not self._took_part_before(r))
                for r in awaiting
            ]
            allocations = edition.close(self.clock(), candidates, paid)
            by_id = {r.id: r for r in awaiting}
            for allocation in allocations:
                by_id[allocation.registration_id].decide_free_place(allocation)
            ordered = [by_id[a.registration_id] for a in allocations]
            gate = EditionGate.closing(self.edition_registrations, edition.id, len(listed))
            self._save_through(gate, edition, *ordered)
            return edition, ordered

        return retry_on_conflict(attempt)

    def _took_part_before(self, registration: Registration) -> bool:
        """Whether this SIRET was in the panel of an earlier edition (from our own history)."""
        structure = self.find(Structure, Structure.create_id(registration.siret))
        if structure is None:
            return False
        for earlier_id in structure.earlier_registrations(registration.year):
            earlier = self.find(Registration, earlier_id)
            if earlier is not None and earlier.in_panel:
                return True
        return False


def _edition_terms(edition: Edition) -> tuple[Any, ...]:
    return (
        edition.registration_deadline,
        edition.audit_window_start,
        edition.audit_window_end,
        edition.free_places,
    )
