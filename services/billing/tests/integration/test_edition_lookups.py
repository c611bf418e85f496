"""On real PostgreSQL: a billing store written when the edition listed its quotes, order
forms and credit notes (no lookup table, a snapshot with the lists) is backfilled when the
application opens, and answers as before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from baro_billing.application import BillingApplication
from baro_billing.domain import Conflict
from baro_billing.lookups import TABLE
from baro_chassis.postgres import open_application
from billing_builders import YEAR, registered, site, site_added

pytestmark = pytest.mark.integration


def clock() -> datetime:
    return datetime(YEAR, 2, 10, 12, tzinfo=UTC)


def as_written_before_the_lookups(app: BillingApplication) -> None:
    """The store as the edition with lists left it: no lookup table, and the edition's
    latest snapshot holding its lists (its events are the same as they always were)."""
    edition = app.edition(YEAR)
    quotes: dict[str, list[str]] = {}
    for quote in app.quotes(YEAR):
        quotes.setdefault(str(quote.registration_id), []).append(str(quote.id))
    order_forms = {q.number: str(q.id) for q in app.quotes(YEAR) if q.number}
    credit_notes = {
        q.credit_note["number"]: q.number for q in app.quotes(YEAR) if q.credit_note and q.number
    }
    current = Snapshot.take(edition)
    state: dict[str, Any] = {
        k: v
        for k, v in current.state.items()
        if k not in ("class_version", "order_form_count", "credit_note_count")
    }
    state.update(quotes=quotes, order_forms=order_forms, credit_notes=credit_notes)
    assert app.snapshots is not None
    app.snapshots.put(
        [
            Snapshot(
                originator_id=current.originator_id,
                originator_version=current.originator_version,
                timestamp=current.timestamp,
                topic=current.topic,
                state=state,
            )
        ]
    )
    with app._datastore.transaction(commit=True) as cur:
        cur.execute(f"DROP TABLE {TABLE}")


def lookup_rows(app: BillingApplication) -> int:
    with app._datastore.transaction(commit=False) as cur:
        cur.execute(f"SELECT count(*) AS n FROM {TABLE}")
        row = cur.fetchone()
        return int(row["n"])


def test_a_store_written_with_the_lists_is_backfilled_and_answers_as_before(
    database_url: str,
) -> None:
    before = open_application(BillingApplication, database_url, clock=clock)
    events = [registered(f"Commune {n}") for n in range(3)]
    first, second, third = (before.on_structure_registered(e) for e in events)
    assert first is not None
    assert second is not None
    assert third is not None
    one = before.issue(first.id, "finance@afnor").number
    two = before.issue(second.id, "finance@afnor").number
    assert (one, two) == (f"BC-{YEAR}-000001", f"BC-{YEAR}-000002")
    _, revision = before.cancel(two or "", "wrong buyer", "finance@afnor")
    added = before.on_site_added(site_added(events[0], site("Annexe")))  # a revision of `one`
    quotes = [q.id for q in before.quotes(YEAR)]
    assert quotes == [first.id, added.id, second.id, revision.id, third.id]
    as_written_before_the_lookups(before)
    before.close()

    after = open_application(BillingApplication, database_url, clock=clock)
    assert lookup_rows(after) == 5 + 2 + 2, "filled on creation: 5 quotes, 2 order forms, 1 note"
    edition = after.edition(YEAR)
    assert (edition.order_form_count, edition.credit_note_count) == (2, 1)
    assert [q.id for q in after.quotes(YEAR)] == quotes
    assert after.order_form(one or "").id == first.id
    assert after.order_form(two or "").id == second.id
    assert after.credit_note(f"AV-{YEAR}-000001").id == second.id
    assert after.cancel(two or "", "wrong buyer", "finance@afnor")[1].id == revision.id  # a retry
    with pytest.raises(Conflict, match="already cancelled"):
        after.cancel(two or "", "another reason", "finance@afnor")
    assert after.issue(revision.id, "finance@afnor").number == f"BC-{YEAR}-000003"
    assert after.issue(third.id, "finance@afnor").number == f"BC-{YEAR}-000004"
    assert after.order_form(f"BC-{YEAR}-000004").id == third.id
    after.close()

    again = open_application(BillingApplication, database_url, clock=clock)
    assert [q.id for q in again.quotes(YEAR)] == quotes
    assert again.order_form(f"BC-{YEAR}-000003").id == revision.id
    again.close()
