"""An edition of 40,000 quotes and order forms: its snapshot stays as small as at 4 (every
command on the edition decodes it), and an edition recorded with its lists is read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from eventsourcing.domain import Snapshot

from baro_billing.application import BillingApplication
from baro_billing.domain import BillingEdition, Conflict, prices_of
from baro_billing.pricing import default_price_list
from billing_builders import YEAR, registered

pytestmark = pytest.mark.unit

NATIONAL = 40_000


def national_edition(documents: int) -> BillingEdition:
    """An edition whose `documents` registrations each have a quote issued as an order form,
    one in ten cancelled by a credit note and revised."""
    edition = BillingEdition(YEAR, prices_of(default_price_list(YEAR)))
    for n in range(documents):
        registration_id, quote_id = uuid4(), uuid4()
        edition.add_quote(registration_id, quote_id, [])
        number = edition.number_order_form(quote_id, price_list_version=1)
        if n % 10 == 0:
            edition.number_credit_note(number, cancelled_by=None)
            edition.add_quote(registration_id, uuid4(), [quote_id])
    return edition


def snapshot_size(edition: BillingEdition) -> int:
    return len(json.dumps(Snapshot.take(edition).state, default=str))


def test_a_national_edition_keeps_a_snapshot_as_small_as_a_tiny_one() -> None:
    national, small = national_edition(NATIONAL), national_edition(4)
    assert snapshot_size(small) <= snapshot_size(national) < snapshot_size(small) + 32 < 1024
    assert (national.order_form_count, national.credit_note_count) == (NATIONAL, NATIONAL // 10)
    assert national.number_order_form(uuid4(), 1) == f"BC-{YEAR}-{NATIONAL + 1:06d}"
    assert national.number_credit_note(f"BC-{YEAR}-000002", None) == (
        f"AV-{YEAR}-{NATIONAL // 10 + 1:06d}"
    )


def test_an_order_form_already_cancelled_is_refused_a_second_credit_note() -> None:
    edition = national_edition(1)
    version = edition.version
    with pytest.raises(Conflict, match=f"order form BC-{YEAR}-000001 was already cancelled"):
        edition.number_credit_note(f"BC-{YEAR}-000001", cancelled_by=f"AV-{YEAR}-000001")
    assert (edition.version, edition.credit_note_count) == (version, 1)


def test_a_quote_added_again_records_nothing() -> None:
    edition = national_edition(0)
    registration_id, quote_id = uuid4(), uuid4()
    edition.add_quote(registration_id, quote_id, [])
    version = edition.version
    edition.add_quote(registration_id, quote_id, [quote_id])
    assert edition.version == version


def test_an_edition_snapshot_recorded_with_lists_is_read_back_with_counts() -> None:
    quote_ids = [str(uuid4()) for _ in range(3)]
    state = {
        "edition": YEAR,
        "quotes": {str(uuid4()): quote_ids[:2], str(uuid4()): quote_ids[2:]},
        "order_forms": {f"BC-{YEAR}-000001": quote_ids[0], f"BC-{YEAR}-000002": quote_ids[2]},
        "credit_notes": {f"AV-{YEAR}-000001": f"BC-{YEAR}-000001"},
    }
    BillingEdition.upcast_v1_v2(state)
    assert state == {"edition": YEAR, "order_form_count": 2, "credit_note_count": 1}


def test_an_application_reads_an_edition_snapshotted_with_its_lists() -> None:
    """A snapshot the edition took when it listed its documents, in an in-memory store:
    the edition loads with counts, its lookups come from its events."""
    app = BillingApplication(clock=lambda: datetime(YEAR, 2, 10, 12, tzinfo=UTC))
    event = registered()
    quote = app.on_structure_registered(event)
    assert quote is not None
    number = app.issue(quote.id, "finance@afnor").number
    assert number == f"BC-{YEAR}-000001"
    edition = app.edition(YEAR)
    current = Snapshot.take(edition)
    old_state = {k: v for k, v in current.state.items() if k != "class_version"}
    old_state.pop("order_form_count")
    old_state.pop("credit_note_count")
    old_state["quotes"] = {str(event.registration_id): [str(quote.id)]}
    old_state["order_forms"] = {number: str(quote.id)}
    old_state["credit_notes"] = {}
    assert app.snapshots is not None
    app.snapshots.put(
        [
            Snapshot(
                originator_id=current.originator_id,
                originator_version=current.originator_version,
                timestamp=current.timestamp,
                topic=current.topic,
                state=old_state,
            )
        ]
    )
    reloaded = app.edition(YEAR)
    assert (reloaded.order_form_count, reloaded.credit_note_count) == (1, 0)
    assert app.order_form(number).id == quote.id
    cancelled, revision = app.cancel(number, "wrong address", "finance@afnor")
    assert cancelled.credit_note is not None
    assert cancelled.credit_note["number"] == f"AV-{YEAR}-000001"
    assert [q.id for q in app.quotes(YEAR)] == [quote.id, revision.id]
