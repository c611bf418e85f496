"""Quotes from registration's events, finance's adjustments, issue, signature and
cancellation, on the event-sourced application (in memory)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baro_billing.application import BillingApplication
from baro_billing.domain import Conflict, InvalidInput, NotFound, QuoteStatus
from baro_contracts import registration_v1 as reg
from baro_contracts.billing_v1 import LineKind
from billing_builders import (
    YEAR,
    edition_opened,
    order_form_signed,
    registered,
    site,
    site_added,
    switched_to_paid,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def app() -> BillingApplication:
    return BillingApplication(clock=lambda: datetime(YEAR, 2, 10, 12, tzinfo=UTC))


def test_a_paid_registration_gets_its_quote_once_however_often_the_event_comes(
    app: BillingApplication,
) -> None:
    event = registered(population=9_999, restitution=True)
    quote = app.on_structure_registered(event)
    assert quote is not None
    assert quote.status is QuoteStatus.DRAFT
    assert quote.totals.model_dump() == {
        "ht_cents": 179_000,
        "vat_cents": 35_800,
        "ttc_cents": 214_800,
    }
    # redelivered, or published again under another message id: no second quote
    assert app.on_structure_registered(event) is None
    assert (
        app.on_structure_registered(event.model_copy(update={"event_id": "registration:999999"}))
        is None
    )
    assert [q.id for q in app.quotes(YEAR)] == [quote.id]


def test_finance_issues_a_quote_and_it_becomes_an_immutable_numbered_order_form(
    app: BillingApplication,
) -> None:
    first = app.on_structure_registered(registered())
    second = app.on_structure_registered(registered("Mairie de Vire", population=1_000))
    assert first is not None
    assert second is not None
    issued = app.issue(second.id, "finance@afnor")
    assert issued.number == "BC-2025-000001"
    assert app.issue(first.id, "finance@afnor").number == "BC-2025-000002"
    assert app.order_form("BC-2025-000001").id == second.id
    with pytest.raises(Conflict, match="cannot be adjusted"):
        app.adjust(second.id, "discount", "finance@afnor", amount_cents=100, reason="late")
    # The same request again (a retry) answers the same order form; another's is refused.
    assert app.issue(second.id, "finance@afnor").number == "BC-2025-000001"
    with pytest.raises(Conflict):
        app.issue(second.id, "another@afnor")
    assert [q.status for q in app.quotes(YEAR, QuoteStatus.ISSUED)] == [QuoteStatus.ISSUED] * 2


def test_the_order_form_follows_registrations_signature(app: BillingApplication) -> None:
    event = registered()
    quote = app.on_structure_registered(event)
    assert quote is not None
    app.issue(quote.id, "finance@afnor")
    signed = app.on_order_form_signed(order_form_signed(event))
    assert signed.status is QuoteStatus.SIGNED
    assert signed.signature == {
        "signed_by": "Jeanne Martin, maire",
        "signed_at": "2025-02-20T10:00:00+00:00",
    }
    # redelivered: nothing changes
    assert app.on_order_form_signed(order_form_signed(event)).version == signed.version


def test_a_multi_site_draft_is_adjusted_with_reasons_then_issued(app: BillingApplication) -> None:
    event = registered(sites=[site(), site("Médiathèque", reg.SiteKind.ANNEX)], restitution=True)
    quote = app.on_structure_registered(event)
    assert quote is not None
    assert quote.review[0].startswith("2 sites")
    with pytest.raises(Conflict, match="must price first"):
        app.issue(quote.id, "finance@afnor")
    custom = next(i for i, x in enumerate(quote.quote_lines) if x.kind is LineKind.CUSTOM)
    with pytest.raises(InvalidInput, match="reason"):
        app.adjust(quote.id, "price_line", "finance@afnor", line_index=custom, unit_cents=120_000)
    app.adjust(
        quote.id,
        "price_line",
        "finance@afnor",
        line_index=custom,
        unit_cents=120_000,
        reason="two restitutions in one day",
    )
    adjusted = app.adjust(
        quote.id, "discount", "finance@afnor", amount_cents=24_000, reason="multi-site discount"
    )
    # 1,250 + 990 + 1,200 - 240 = 3,200 € HT
    assert adjusted.totals.model_dump() == {
        "ht_cents": 320_000,
        "vat_cents": 64_000,
        "ttc_cents": 384_000,
    }
    assert [a["reason"] for a in adjusted.adjustments] == [
        "two restitutions in one day",
        "multi-site discount",
    ]
    assert app.issue(quote.id, "finance@afnor").number == "BC-2025-000001"


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("discount", {"amount_cents": 0}, "amount_cents must be"),
        ("discount", {"amount_cents": 12.5}, "whole number of cents"),
        ("discount", {"amount_cents": 200_000}, "cannot exceed"),
        ("custom_line", {"amount_cents": 100}, "needs a label"),
        ("price_line", {"line_index": 7, "unit_cents": 1}, "line_index"),
        ("rebate", {}, "kind must be one of"),
    ],
)
def test_a_bad_adjustment_says_what_is_wrong_and_changes_nothing(
    app: BillingApplication, kind: str, fields: dict[str, object], message: str
) -> None:
    quote = app.on_structure_registered(registered())
    assert quote is not None
    with pytest.raises(InvalidInput, match=message):
        app.adjust(quote.id, kind, "finance@afnor", reason="because", **fields)
    assert app.quote(quote.id).version == quote.version


def test_a_site_added_before_issue_redrafts_the_quote(app: BillingApplication) -> None:
    event = registered()
    quote = app.on_structure_registered(event)
    assert quote is not None
    added = site_added(event, site("Mairie annexe"))
    redrafted = app.on_site_added(added)
    assert redrafted.id == quote.id
    assert [x.kind for x in redrafted.quote_lines] == [LineKind.SITE, LineKind.SITE]
    assert app.on_site_added(added).version == redrafted.version  # redelivered


def test_a_free_participant_switching_to_paid_gets_the_paid_price(app: BillingApplication) -> None:
    event = registered(participation=reg.Participation.FREE, restitution=True)
    quote = app.on_structure_registered(event)
    assert quote is not None
    assert quote.totals.ht_cents == 0
    assert "switch to paid" in quote.refused[0]
    paid = app.on_switched_to_paid(switched_to_paid(event, restitution=True))
    assert paid.totals.ht_cents == 125_000 + 80_000
    assert paid.refused == []


def test_a_cancellation_is_a_credit_note_and_a_new_revision_never_an_edit(
    app: BillingApplication,
) -> None:
    event = registered()
    quote = app.on_structure_registered(event)
    assert quote is not None
    app.issue(quote.id, "finance@afnor")
    with pytest.raises(InvalidInput, match="reason"):
        app.cancel("BC-2025-000001", " ", "finance@afnor")
    cancelled, revision = app.cancel("BC-2025-000001", "wrong population", "finance@afnor")
    assert cancelled.status is QuoteStatus.CANCELLED
    assert cancelled.credit_note is not None
    assert cancelled.credit_note["number"] == "AV-2025-000001"
    assert cancelled.totals.ht_cents == 125_000  # the order form itself is unchanged
    assert revision.revision == 2
    assert revision.revises == "BC-2025-000001"
    assert revision.status is QuoteStatus.DRAFT
    with pytest.raises(Conflict, match="already cancelled"):
        app.cancel("BC-2025-000001", "again", "finance@afnor")
    with pytest.raises(Conflict, match="cancelled by a credit note"):
        app.issue(quote.id, "finance@afnor")
    assert app.issue(revision.id, "finance@afnor").number == "BC-2025-000002"


def test_the_price_list_is_editable_until_the_first_issue_then_versioned(
    app: BillingApplication,
) -> None:
    with pytest.raises(NotFound, match="unknown to billing"):
        app.price_list(YEAR)
    app.on_edition_opened(edition_opened())
    assert app.on_edition_opened(edition_opened()).price_list.version == 1  # once only
    assert app.price_list(YEAR).small_structure_cents == 99_000
    edited = app.set_price_list(YEAR, {"small_structure_cents": 95_000}, "admin")
    assert (edited.version, edited.small_structure_cents) == (1, 95_000)
    quote = app.on_structure_registered(registered(population=500))
    assert quote is not None
    assert quote.totals.ht_cents == 95_000
    app.issue(quote.id, "finance@afnor")
    later = app.set_price_list(YEAR, {"small_structure_cents": 97_000}, "admin")
    assert (later.version, later.small_structure_cents) == (2, 97_000)
    assert app.order_form("BC-2025-000001").price_list_version == 1
    with pytest.raises(InvalidInput, match="cannot be negative"):
        app.set_price_list(YEAR, {"oral_restitution_cents": -1}, "admin")


def test_a_price_change_reprices_drafts_finance_has_not_adjusted(app: BillingApplication) -> None:
    plain = app.on_structure_registered(registered(population=500))
    adjusted = app.on_structure_registered(registered(population=500))
    assert plain is not None
    assert adjusted is not None
    app.adjust(adjusted.id, "discount", "finance@afnor", amount_cents=9_000, reason="loyalty")
    app.set_price_list(YEAR, {"small_structure_cents": 95_000}, "admin")
    assert app.quote(plain.id).totals.ht_cents == 95_000
    assert app.quote(adjusted.id).totals.ht_cents == 99_000 - 9_000  # finance's, kept


def test_an_adjusted_draft_keeps_the_vat_rate_it_was_priced_at(
    app: BillingApplication,
) -> None:
    quote = app.on_structure_registered(registered(population=500))
    assert quote is not None
    app.adjust(quote.id, "discount", "finance@afnor", amount_cents=9_000, reason="loyalty")
    app.set_price_list(YEAR, {"vat_rate_percent": 10}, "admin")  # not repriced: adjusted
    adjusted = app.adjust(
        quote.id, "custom_line", "finance@afnor", label="Frais", amount_cents=1_000, reason="x"
    )
    assert [x.vat_cents for x in adjusted.quote_lines] == [19_800, -1_800, 200]  # all at 20 %
    assert adjusted.vat_rate_percent == 20
    fresh = app.on_structure_registered(registered(population=500))
    assert fresh is not None
    assert fresh.vat_rate_percent == 10
    assert fresh.totals.vat_cents == 9_900


def test_a_site_added_after_issue_makes_a_revision_for_finance(app: BillingApplication) -> None:
    event = registered()
    quote = app.on_structure_registered(event)
    assert quote is not None
    app.issue(quote.id, "finance@afnor")
    revision = app.on_site_added(site_added(event, site("Mairie annexe")))
    assert revision.id != quote.id
    assert revision.revision == 2
    assert revision.revises == "BC-2025-000001"
    assert revision.review[0] == "a site added after order form BC-2025-000001 was issued"
    assert app.quote(quote.id).status is QuoteStatus.ISSUED  # the order form is untouched


def test_unknown_documents_are_reported_as_such(app: BillingApplication) -> None:
    with pytest.raises(NotFound, match="edition 2031 is unknown to billing"):
        app.quotes(2031)
    with pytest.raises(NotFound, match="not a document number"):
        app.order_form("BC-25-1")
