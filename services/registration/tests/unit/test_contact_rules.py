"""The rules of contacts, without I/O: sealing, what each audience sees, the key store's
rules (in memory), and reading, correcting and erasing through the in-memory application."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from cryptography.exceptions import InvalidTag

from baro_chassis.testing import FakeClock
from baro_contracts.registration_v1 import Participation, StructureKind
from baro_registration.application import RegistrationApplication
from baro_registration.contact_access import (
    Actor,
    Audience,
    changed_fields,
    fields_of,
    visible_contacts,
)
from baro_registration.contact_keys import Erasure, InMemoryContactKeys
from baro_registration.contact_sealing import Sealer, is_sealed, new_data_key, unseal
from baro_registration.domain import (
    ContactsErased,
    InvalidRegistration,
    Registration,
    RegistrationConflict,
)
from registration_builders import make_siret

pytestmark = pytest.mark.unit

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
REFERRER = {"name": "Jeanne Martin", "email": "jeanne@example.fr", "phone": "0478000000"}
MAYOR = {"name": "Paul Durand", "email": "maire@example.fr", "phone": "0478999999"}
BOTH = {"referrer": REFERRER, "decision_maker": MAYOR}
ADMIN = Actor("admin", "admin", Audience.EVERYTHING)


# --- sealing ------------------------------------------------------------------------------


def test_sealed_contacts_hold_no_personal_data_and_open_with_their_key() -> None:
    key, rid = new_data_key(), uuid4()
    envelope = Sealer(key, rid)(BOTH)
    assert is_sealed(envelope)
    assert set(envelope) == {"scheme", "key_id", "nonce", "ciphertext"}
    assert envelope["key_id"] == str(rid)
    text = json.dumps(envelope)
    for secret in ("Jeanne", "jeanne@example.fr", "0478000000", "maire"):
        assert secret not in text
    assert unseal(key, envelope) == BOTH


def test_sealing_twice_gives_two_ciphertexts() -> None:
    seal = Sealer(new_data_key(), uuid4())
    assert seal(BOTH)["ciphertext"] != seal(BOTH)["ciphertext"]


def test_sealed_contacts_do_not_open_with_another_key_or_in_another_registration() -> None:
    key, rid = new_data_key(), uuid4()
    envelope = Sealer(key, rid)(BOTH)
    with pytest.raises(InvalidTag):
        unseal(new_data_key(), envelope)
    with pytest.raises(InvalidTag):
        unseal(key, {**envelope, "key_id": str(uuid4())})  # copied into another registration


def test_plain_contacts_recorded_before_sealing_are_told_apart() -> None:
    assert not is_sealed(BOTH)


# --- what each audience sees --------------------------------------------------------------


def test_each_audience_sees_only_its_contact_fields() -> None:
    assert visible_contacts(BOTH, Audience.EVERYTHING) == BOTH
    assert visible_contacts(BOTH, Audience.INVOICING) == {
        "decision_maker": {"name": "Paul Durand", "email": "maire@example.fr"}
    }
    assert visible_contacts({"referrer": REFERRER}, Audience.INVOICING) == {
        "referrer": {"name": "Jeanne Martin", "email": "jeanne@example.fr"}
    }
    assert visible_contacts(BOTH, Audience.NOTHING) == {}
    assert visible_contacts({}, Audience.INVOICING) == {}


def test_the_log_names_the_fields_seen_and_changed() -> None:
    assert fields_of({"referrer": REFERRER}) == [
        "referrer.email",
        "referrer.name",
        "referrer.phone",
    ]
    corrected = {"referrer": {**REFERRER, "phone": "0102030405"}}
    assert changed_fields(BOTH, corrected) == [
        "decision_maker.email",
        "decision_maker.name",
        "decision_maker.phone",
        "referrer.phone",
    ]
    assert changed_fields(BOTH, BOTH) == []


# --- the key store's rules ----------------------------------------------------------------


def test_an_erased_key_leaves_a_tombstone_and_is_never_made_again() -> None:
    keys = InMemoryContactKeys()
    rid, key = uuid4(), new_data_key()
    keys.create(rid, key)
    keys.create(rid, new_data_key())
    assert keys.lookup(rid) == key
    erasure = keys.erase(rid, ADMIN, T0)
    assert erasure == Erasure(T0, "admin", "admin")
    assert keys.lookup(rid) == erasure
    assert keys.key_for(rid, new_data_key()) == erasure
    keys.create(rid, new_data_key())
    keys.discard_unused(rid)
    assert keys.erase(rid, Actor("structure", "s"), T0 + timedelta(days=1)) == erasure
    assert keys.lookup(rid) == erasure


def test_an_unused_key_is_discarded() -> None:
    keys = InMemoryContactKeys()
    rid = uuid4()
    keys.create(rid, new_data_key())
    keys.discard_unused(rid)
    assert keys.lookup(rid) is None


# --- through the in-memory application ----------------------------------------------------


@pytest.fixture
def app() -> RegistrationApplication:
    application = RegistrationApplication(clock=FakeClock(T0))
    application.open_edition(
        year=2027,
        registration_deadline=date(2027, 3, 15),
        audit_window_start=date(2027, 4, 1),
        audit_window_end=date(2027, 5, 31),
        free_places=1,
    )
    return application


def register(app: RegistrationApplication, contacts: dict[str, Any] | None = None) -> Any:
    return app.register(
        2027,
        siret=make_siret(1),
        name="Commune",
        kind=StructureKind.FRANCE_SERVICES,
        population=None,
        department="69",
        contacts=contacts or BOTH,
        sites=[{"name": "Accueil", "kind": "main", "address": "1 rue A", "contact_points": {}}],
        participation=Participation.PAID,
        options={},
        certifications=[],
    )


def test_the_recorded_events_hold_only_sealed_contacts(app: RegistrationApplication) -> None:
    registration = register(app)
    app.contacts.correct(2027, registration.id, {"referrer": REFERRER}, ADMIN)
    events = list(app.repository.event_store.get(registration.id))
    assert [type(e).__name__ for e in events] == ["Registered", "ContactsCorrected"]
    for event in events:
        assert is_sealed(event.contacts)
        assert "Jeanne" not in json.dumps(event.contacts)


def test_contacts_corrected_then_erased_read_as_erased(app: RegistrationApplication) -> None:
    rid = register(app).id
    assert app.contacts.read(2027, rid, ADMIN).contacts == BOTH
    app.contacts.correct(2027, rid, {"referrer": REFERRER}, ADMIN)
    assert app.contacts.read(2027, rid, ADMIN).contacts == {"referrer": REFERRER}
    erased = app.contacts.erase(2027, rid, ADMIN)
    assert erased.contacts == {}
    assert erased.erasure == Erasure(T0, "admin", "admin")
    assert app.contacts.read(2027, rid, ADMIN) == erased
    with pytest.raises(ContactsErased):
        app.contacts.correct(2027, rid, {"referrer": MAYOR}, ADMIN)
    assert app.registration(2027, rid).name == "Commune"  # replayed from its events


def test_a_correction_needs_a_referrer_or_a_decision_maker(app: RegistrationApplication) -> None:
    rid = register(app).id
    with pytest.raises(InvalidRegistration) as refused:
        app.contacts.correct(2027, rid, {}, ADMIN)
    assert refused.value.field == "contacts"
    assert app.contacts.read(2027, rid, ADMIN).contacts == BOTH


def legacy_registration(app: RegistrationApplication) -> Any:
    """A registration as recorded before contacts were sealed: plain text in its event."""
    registration = Registration.register(
        registration_id=uuid4(),
        seal=lambda contacts: contacts,  # what recording did before sealing
        year=2027,
        siret=make_siret(2),
        name="Commune d'avant",
        kind=StructureKind.FRANCE_SERVICES,
        population=None,
        department="69",
        contacts=BOTH,
        sites=[{"name": "Accueil", "kind": "main", "address": "1 rue A", "contact_points": {}}],
        participation=Participation.PAID,
        options={},
        certifications=[],
        registered_at=T0,
    )
    app.save(registration)
    return registration


def test_plain_text_contacts_recorded_before_sealing_are_read_but_cannot_be_erased(
    app: RegistrationApplication,
) -> None:
    rid = legacy_registration(app).id
    assert app.contacts.read(2027, rid, ADMIN).contacts == BOTH
    with pytest.raises(RegistrationConflict) as refused:
        app.contacts.erase(2027, rid, ADMIN)
    assert "plain text" in refused.value.message
    assert app.contacts.read(2027, rid, ADMIN).contacts == BOTH
    # a correction is sealed with a key made for it; the old plain text stays in the event
    app.contacts.correct(2027, rid, {"referrer": REFERRER}, ADMIN)
    assert app.contacts.read(2027, rid, ADMIN).contacts == {"referrer": REFERRER}
    assert is_sealed(app.registration(2027, rid).contacts)
