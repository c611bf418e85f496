"""An edition of 40,000 registrations: its snapshot and its close's events stay as small as
at 4 (NATS refuses a message over 1 MiB, and the relay would retry it forever)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from baro_chassis.testing import FakeClock
from baro_contracts import registration_v1 as v1
from baro_registration.application import RegistrationApplication
from baro_registration.domain import Edition, FreePlaceCandidate
from baro_registration.translation import RegistrationTranslator

NATIONAL = 40_000
WELL_UNDER_THE_LIMIT = 64 * 1024
T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


def national_edition(app: RegistrationApplication, registrations: int) -> Edition:
    edition = app.open_edition(
        year=2027,
        registration_deadline=date(2027, 3, 15),
        audit_window_start=date(2027, 4, 1),
        audit_window_end=date(2027, 6, 30),
        free_places=300,
    )
    candidates = [
        FreePlaceCandidate(uuid4(), T0 + timedelta(seconds=n), n % 3 == 0)
        for n in range(registrations)
    ]
    edition.close(T0, candidates, paid_in_panel=0)
    return edition


def snapshot_size(edition: Edition) -> int:
    return len(json.dumps(Edition.Snapshot.take(edition).state, default=str))


def test_the_close_of_a_national_edition_publishes_a_small_event_and_keeps_a_small_edition() -> (
    None
):
    app = RegistrationApplication(clock=FakeClock(T0))
    edition = national_edition(app, NATIONAL)
    small = national_edition(RegistrationApplication(clock=FakeClock(T0)), 4)
    assert snapshot_size(small) < snapshot_size(edition) < snapshot_size(small) + 32 < 1024

    close_event = edition.collect_events()[-1]
    app.repository.get = lambda *_, **__: edition  # type: ignore[method-assign]
    translate = RegistrationTranslator(app)
    closes = [translate(close_event, "registration:1")]
    assert [type(c) for c in closes] == [v1.RegistrationClosed]
    close = closes[0]
    assert isinstance(close, v1.RegistrationClosed)
    assert (close.granted_count, close.declined_count) == (300, NATIONAL - 300)
    assert len(close.model_dump_json()) < WELL_UNDER_THE_LIMIT


def test_a_close_published_with_the_lists_is_read_with_its_counts() -> None:
    granted, declined = [uuid4(), uuid4()], [uuid4()]
    old = v1.RegistrationClosed.model_validate_json(
        json.dumps(
            {
                "event_type": "registration.v1.registration_closed",
                "event_id": "registration:9",
                "occurred_at": T0.isoformat(),
                "edition": 2026,
                "closed_at": T0.isoformat(),
                "free_places": 2,
                "granted": [str(g) for g in granted],
                "declined": [str(d) for d in declined],
                "panel_size": 7,
            }
        )
    )
    assert (old.granted, old.declined) == (granted, declined)
    assert (old.granted_count, old.declined_count) == (2, 1)


def test_an_edition_recorded_with_lists_is_read_back_with_counts() -> None:
    ids = [str(uuid4()) for _ in range(3)]
    snapshot = {"registration_ids": ids, "granted": ids[:1], "declined": ids[1:]}
    Edition.upcast_v1_v2(snapshot)
    Edition.upcast_v2_v3(snapshot)
    assert snapshot == {"granted_count": 1, "declined_count": 2}
    closed = {"closed_at": T0, "granted": ids[:1], "declined": ids[1:], "panel_size": 4}
    Edition.Closed.upcast_v1_v2(closed)
    assert closed == {"closed_at": T0, "granted_count": 1, "declined_count": 2, "panel_size": 4}
