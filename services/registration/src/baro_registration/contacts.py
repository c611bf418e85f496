"""A registration's contacts: read (as each audience may see them), corrected and erased,
every access written to the access log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from baro_chassis.eventstore import retry_on_conflict
from baro_registration.contact_access import Actor, changed_fields, fields_of, visible_contacts
from baro_registration.contact_access_log import AccessEntry, Action, ContactAccessLog
from baro_registration.contact_keys import ContactKeys, Erasure
from baro_registration.contact_sealing import Sealer, is_sealed, new_data_key, unseal
from baro_registration.domain import ContactsErased, Registration, RegistrationConflict

if TYPE_CHECKING:
    from baro_registration.application import RegistrationApplication


@dataclass(frozen=True)
class ContactsRecord:
    contacts: dict[str, Any]
    """The contacts (or the part of them one may see); empty once erased."""
    erasure: Erasure | None = None


def _erased(erasure: Erasure) -> ContactsErased:
    return ContactsErased(
        f"these contacts were erased on {erasure.erased_at.isoformat()} by {erasure.role}: "
        "they cannot be read or corrected any more"
    )


class RegistrationContacts:
    def __init__(
        self, application: RegistrationApplication, keys: ContactKeys, log: ContactAccessLog
    ) -> None:
        self.application = application
        self.keys = keys
        self.log = log

    def _open(self, registration: Registration) -> ContactsRecord:
        if not is_sealed(registration.contacts):
            return ContactsRecord(registration.contacts)
        found = self.keys.lookup(registration.id)
        if isinstance(found, Erasure):
            return ContactsRecord({}, found)
        if found is None:
            raise RuntimeError(f"registration {registration.id} has sealed contacts but no key")
        return ContactsRecord(unseal(found, registration.contacts))

    def as_first_recorded(self, first: Registration) -> dict[str, Any] | None:
        """The contacts of a registration as first recorded; None once erased."""
        record = self._open(first)
        return None if record.erasure else record.contacts

    def shown_to(self, registration: Registration, by: Actor) -> ContactsRecord:
        """What `by` may see of the registration's contacts; the read is logged first."""
        record = self._open(registration)
        visible = visible_contacts(record.contacts, by.audience)
        self.log.record(registration.id, Action.READ, fields_of(visible), by, self._now())
        return ContactsRecord(visible, record.erasure)

    def read(self, year: int, registration_id: UUID, by: Actor) -> ContactsRecord:
        return self.shown_to(self.application.registration(year, registration_id), by)

    def correct(
        self, year: int, registration_id: UUID, contacts: dict[str, Any], by: Actor
    ) -> ContactsRecord:
        """Record new contacts, sealed with the registration's key; the same contacts again
        (a retry) record nothing."""

        def attempt() -> tuple[ContactsRecord, list[str]]:
            registration = self.application.registration(year, registration_id)
            current = self._open(registration)
            if current.erasure is not None:
                raise _erased(current.erasure)
            if current.contacts == contacts:
                return current, []
            key = self.keys.key_for(registration_id, new_data_key())
            if isinstance(key, Erasure):
                raise _erased(key)
            registration.correct_contacts(contacts, Sealer(key, registration_id))
            self.application.save(registration)
            return ContactsRecord(contacts), changed_fields(current.contacts, contacts)

        record, changed = retry_on_conflict(attempt)
        self.log.record(registration_id, Action.CORRECTED, changed, by, self._now())
        return ContactsRecord(visible_contacts(record.contacts, by.audience))

    def erase(self, year: int, registration_id: UUID, by: Actor) -> ContactsRecord:
        """Delete the registration's key: its events stay, their contacts unreadable.
        Erasing again answers the first erasure."""
        registration = self.application.registration(year, registration_id)
        if registration.contacts_recorded_in_plain_text:
            raise RegistrationConflict(
                "this registration's contacts were recorded in plain text, before contacts "
                "were encrypted: deleting a key cannot erase them (ask an operator)"
            )
        before = self._open(registration)
        erasure = self.keys.erase(registration_id, by, self._now())
        self.log.record(registration_id, Action.ERASED, fields_of(before.contacts), by, self._now())
        return ContactsRecord({}, erasure)

    def access_log(self, year: int, registration_id: UUID) -> list[AccessEntry]:
        self.application.registration(year, registration_id)
        return self.log.entries(registration_id)

    def _now(self) -> Any:
        return self.application.clock()
