"""Crypto-shredding on real PostgreSQL: contacts are stored only as ciphertext; erasing them
deletes their key and nothing else, so the events stay byte for byte, every aggregate still
replays, and the relay translates exactly the same contract events as before."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from baro_chassis.postgres import open_application
from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, Tokens
from baro_registration.application import RegistrationApplication
from baro_registration.contact_access import Actor
from baro_registration.contact_keys import Erasure, PostgresContactKeys
from baro_registration.contact_sealing import new_data_key
from baro_registration.main import build_relay, create_app
from registration_builders import EDITION, registration_body

pytestmark = pytest.mark.integration

EMAIL = "jeanne.secret@example.fr"
CONTACTS = {"referrer": {"name": "Jeanne Secret", "email": EMAIL, "phone": "0478000000"}}


def stored_events(database_url: str, application: RegistrationApplication) -> list[tuple[Any, ...]]:
    """Every row of the application's event table, as stored."""
    table = sql.Identifier(application.recorder.events_table_name)  # type: ignore[attr-defined]
    query = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {} ORDER BY notification_id"
    ).format(table)
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def translated(settings: Settings, application: RegistrationApplication) -> list[bytes]:
    """Every contract event the relay publishes for this event store, as published."""
    relay = build_relay(settings, application)
    return [c.model_dump_json().encode() for _, c in relay._read_batch(1) if c is not None]


def test_erasing_contacts_changes_no_event_nor_any_published_event_and_replay_still_works(
    settings_for: Settings, clock: FakeClock, tokens: Tokens
) -> None:
    with TestClient(create_app(settings_for, run_relay=False, clock=clock)) as client:
        application: RegistrationApplication = client.app.state.application  # type: ignore[attr-defined]
        assert client.post("/editions", json=EDITION, headers=tokens.admin).status_code == 201
        body = registration_body(1, contacts=CONTACTS, participation="free")
        mine = client.post("/editions/2027/registrations", json=body, headers=tokens.frontend)
        rid = mine.json()["registration_id"]
        url = f"/editions/2027/registrations/{rid}"
        corrected = {"referrer": {**CONTACTS["referrer"], "phone": "0102030405"}}
        assert (
            client.put(f"{url}/contacts", json=corrected, headers=tokens.admin).status_code == 200
        )
        site = {"name": "Annexe", "kind": "annex", "address": "2 rue Basse"}
        assert client.post(f"{url}/sites", json=site, headers=tokens.admin).status_code == 201
        assert client.post("/editions/2027/close", headers=tokens.admin).status_code == 200

        events_before = stored_events(settings_for.database_url, application)
        published_before = translated(settings_for, application)
        assert all(EMAIL.encode() not in bytes(row[4]) for row in events_before)
        assert len(published_before) == 5  # opened, registered, site, closed, free place

        erased = client.delete(f"{url}/contacts", headers=tokens.structure(rid))
        assert erased.status_code == 200, erased.text

        assert stored_events(settings_for.database_url, application) == events_before
        assert translated(settings_for, application) == published_before

    # a fresh process: every aggregate replays from the untouched events
    replayed = open_application(RegistrationApplication, settings_for.database_url, clock=clock)
    try:
        registration = replayed.registration(2027, UUID(rid))
        assert registration.version == 4  # registered, corrected, site added, place decided
        assert [s["name"] for s in registration.sites] == ["Hôtel de ville", "Annexe"]
        assert registration.status == "in_panel"
        assert replayed.edition(2027).closed_at is not None
        assert translated(settings_for, replayed) == published_before
        admin = Actor("admin", "admin")
        record = replayed.contacts.read(2027, UUID(rid), admin)
        assert record.contacts == {}
        assert record.erasure is not None
        assert record.erasure.role == "structure"
    finally:
        replayed.close()


@pytest.fixture
def keys(settings_for: Settings, clock: FakeClock) -> Any:
    application = open_application(RegistrationApplication, settings_for.database_url, clock=clock)
    yield application.contact_keys
    application.close()


def test_the_key_table_keeps_a_tombstone_and_never_makes_an_erased_key_again(
    keys: PostgresContactKeys, clock: FakeClock
) -> None:
    rid, key = uuid4(), new_data_key()
    keys.create(rid, key)
    keys.create(rid, new_data_key())
    assert keys.lookup(rid) == key
    erasure = keys.erase(rid, Actor("admin", "admin"), clock.now)
    assert erasure == Erasure(clock.now, "admin", "admin")
    assert keys.lookup(rid) == erasure
    assert keys.key_for(rid, new_data_key()) == erasure
    keys.create(rid, new_data_key())
    keys.discard_unused(rid)
    later: datetime = clock.now + timedelta(days=1)
    assert keys.erase(rid, Actor("structure", "s"), later) == erasure
    unused = uuid4()
    keys.create(unused, new_data_key())
    keys.discard_unused(unused)
    assert keys.lookup(unused) is None


def test_the_access_log_refuses_to_be_changed_or_emptied(
    settings_for: Settings, clock: FakeClock
) -> None:
    application = open_application(RegistrationApplication, settings_for.database_url, clock=clock)
    application.close()
    with psycopg.connect(settings_for.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO contact_access_log "
            "(registration_id, action, fields, actor_role, actor_subject, at) "
            "VALUES (%s, 'read', '{}', 'admin', 'admin', now())",
            (uuid4(),),
        )
        for statement in (
            "UPDATE contact_access_log SET actor_role = 'nobody'",
            "DELETE FROM contact_access_log",
            "TRUNCATE contact_access_log",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT actor_role FROM contact_access_log").fetchall() == [("admin",)]
