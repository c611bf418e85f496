"""Quotes, order forms and credit notes: the rules of billing, with no I/O.

- A `BillingEdition` holds an edition's price list versions and how many order forms and
  credit notes it numbered. Order forms (`BC-<year>-000001`) and credit notes
  (`AV-<year>-000001`) are numbered on it, in the same atomic save as the document they
  number: a number is taken only when its document is stored, so the sequence has no gaps.
  Which quotes a registration has and what each number names are not kept on it (they
  grow with the edition) but derived from its events beside the store (`lookups.py`); the
  commands that need them are handed them.
- A `Quote` is a draft until finance issues it; an issued quote is immutable and is the
  order form. A cancellation is a credit note of the whole amount, and the amendment a new
  revision of the quote; nothing issued is ever edited.

Public commands validate first, then record one event through a private `@event` method, so
a refused command leaves an aggregate exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from baro_billing.pricing import Draft, PriceList, totals_of
from baro_contracts.billing_v1 import QuoteLine, Totals

NAMESPACE = UUID("0b6f4f2e-91c4-4f0a-8d4e-51d7c2a9e3b1")


class BillingError(Exception):
    """A command the rules refuse; `field` names the input at fault when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(BillingError):
    """The input breaks a rule (422)."""


class Conflict(BillingError):
    """The request is well formed but the document's state refuses it (409)."""


class NotFound(BillingError):
    """The edition, quote or document does not exist (404)."""


class QuoteStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    SIGNED = "signed"
    CANCELLED = "cancelled"


def order_form_number(edition: int, sequence: int) -> str:
    return f"BC-{edition}-{sequence:06d}"


def credit_note_number(edition: int, sequence: int) -> str:
    return f"AV-{edition}-{sequence:06d}"


def edition_of_number(number: str, prefix: str) -> int:
    """The edition of a document number `<prefix>-<year>-<sequence>` (NotFound when the
    number is not one)."""
    if not re.fullmatch(rf"{prefix}-[0-9]{{4}}-[0-9]{{6}}", number):
        raise NotFound(f"{number!r} is not a document number like {prefix}-2025-000001", "number")
    return int(number[len(prefix) + 1 : len(prefix) + 5])


def draft_fields(draft: Draft) -> dict[str, Any]:
    """A draft's lines and notes as a quote's events record them."""
    return {
        "lines": [line.model_dump(mode="json") for line in draft.lines],
        "vat_rate_percent": draft.vat_rate_percent,
        "review": list(draft.review),
        "refused": list(draft.refused),
        "unpriced": list(draft.unpriced),
    }


def prices_of(price_list: PriceList) -> dict[str, int]:
    return {
        "small_structure_cents": price_list.small_structure_cents,
        "large_structure_cents": price_list.large_structure_cents,
        "oral_restitution_cents": price_list.oral_restitution_cents,
        "population_threshold": price_list.population_threshold,
        "vat_rate_percent": price_list.vat_rate_percent,
    }


class BillingEdition(Aggregate):
    """An edition's price lists and how many documents it numbered.

    It counts its order forms and credit notes rather than listing them, so that it stays as
    small at 40,000 registrations as at 4: every command on the edition decodes it.
    """

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots taken when the edition listed its quotes, order forms and credit notes
        (its lookups are derived from the events that added them)."""
        del state["quotes"]
        state["order_form_count"] = len(state.pop("order_forms"))
        state["credit_note_count"] = len(state.pop("credit_notes"))

    @staticmethod
    def create_id(edition: int) -> UUID:
        return uuid5(NAMESPACE, f"billing-edition:{edition}")

    @event("Opened")
    def __init__(self, edition: int, prices: dict[str, int]) -> None:
        self.edition = edition
        self.price_lists: list[dict[str, int]] = [prices]
        self.price_list_locked = False
        self.order_form_count = 0
        self.credit_note_count = 0

    @property
    def price_list(self) -> PriceList:
        return PriceList(self.edition, len(self.price_lists), **self.price_lists[-1])

    def set_price_list(self, price_list: PriceList, by: str) -> PriceList:
        """The edition's new prices: the current version changes until a quote was issued
        with it, a new version is made after."""
        problems = price_list.problems()
        if problems:
            raise InvalidInput("; ".join(problems), "price_list")
        prices = prices_of(price_list)
        if prices == self.price_lists[-1]:
            return self.price_list
        if self.price_list_locked:
            self._versioned(prices, by)
        else:
            self._edited(prices, by)
        return self.price_list

    @event("PriceListEdited")
    def _edited(self, prices: dict[str, int], by: str) -> None:
        self.price_lists[-1] = prices

    @event("PriceListVersioned")
    def _versioned(self, prices: dict[str, int], by: str) -> None:
        self.price_lists.append(prices)
        self.price_list_locked = False

    def add_quote(self, registration_id: UUID, quote_id: UUID, quote_ids: Sequence[UUID]) -> None:
        """`quote_id` is the registration's latest revision; `quote_ids` are the ones it
        has so far (adding one of them again records nothing)."""
        if quote_id not in quote_ids:
            self._quote_added(str(registration_id), str(quote_id))

    @event("QuoteAdded")
    def _quote_added(self, registration_id: str, quote_id: str) -> None:
        pass  # what the lookups derive: registration → its quotes

    def number_order_form(self, quote_id: UUID, price_list_version: int) -> str:
        """The next order form number, for this quote; the price list version it was priced
        with is final from now on."""
        number = order_form_number(self.edition, self.order_form_count + 1)
        self._order_form_numbered(number, str(quote_id), price_list_version)
        return number

    @event("OrderFormNumbered")
    def _order_form_numbered(self, number: str, quote_id: str, price_list_version: int) -> None:
        self.order_form_count += 1
        if price_list_version == len(self.price_lists):
            self.price_list_locked = True

    def number_credit_note(self, order_form: str, cancelled_by: str | None) -> str:
        """The next credit note number, cancelling `order_form`; `cancelled_by` is the
        credit note that already cancelled it, if one did."""
        if cancelled_by is not None:
            raise Conflict(f"order form {order_form} was already cancelled", "number")
        number = credit_note_number(self.edition, self.credit_note_count + 1)
        self._credit_note_numbered(number, order_form)
        return number

    @event("CreditNoteNumbered")
    def _credit_note_numbered(self, number: str, order_form: str) -> None:
        self.credit_note_count += 1


class Quote(Aggregate):
    """A registration's quote, one revision of it: a draft, then an order form."""

    @staticmethod
    def create_id(registration_id: UUID, revision: int) -> UUID:
        return uuid5(NAMESPACE, f"quote:{registration_id}:{revision}")

    @event("Drafted")
    def __init__(
        self,
        registration_id: UUID,
        revision: int,
        edition: int,
        terms: dict[str, Any],
        buyer: dict[str, str],
        lines: list[dict[str, Any]],
        vat_rate_percent: int,
        review: list[str],
        refused: list[str],
        unpriced: list[str],
        price_list_version: int,
        revises: str | None,
        drafted_at: datetime,
    ) -> None:
        self.registration_id = registration_id
        self.revision = revision
        self.edition = edition
        self._take_draft(
            terms, buyer, lines, vat_rate_percent, review, refused, unpriced, price_list_version
        )
        self.revises = revises
        self.drafted_at = drafted_at
        self.status = QuoteStatus.DRAFT
        self.number: str | None = None
        self.issued_at: datetime | None = None
        self.issued_by: str | None = None
        self.signature: dict[str, Any] | None = None
        self.credit_note: dict[str, Any] | None = None

    @property
    def quote_lines(self) -> list[QuoteLine]:
        return [QuoteLine.model_validate(line) for line in self.lines]

    @property
    def totals(self) -> Totals:
        return totals_of(self.quote_lines)

    def _ensure_draft(self, doing: str) -> None:
        if self.status is QuoteStatus.CANCELLED:
            raise Conflict(
                f"quote {self.id} ({self.number}) was cancelled by a credit note and cannot be "
                f"{doing}: work on its latest revision",
                "quote",
            )
        if self.status is not QuoteStatus.DRAFT:
            raise Conflict(
                f"quote {self.id} is {self.status.value} ({self.number}): an issued quote "
                f"cannot be {doing}; cancel its order form with a credit note and revise it",
                "quote",
            )

    def redraft(
        self,
        terms: dict[str, Any],
        buyer: dict[str, str],
        draft: Draft,
        price_list_version: int,
        why: str,
    ) -> None:
        """The draft made again from new terms or prices (finance's adjustments are dropped:
        what they were made on changed)."""
        self._ensure_draft("redrafted")
        self._redrafted(
            terms=terms,
            buyer=buyer,
            price_list_version=price_list_version,
            why=why,
            **draft_fields(draft),
        )

    @event("Redrafted")
    def _redrafted(
        self,
        terms: dict[str, Any],
        buyer: dict[str, str],
        lines: list[dict[str, Any]],
        vat_rate_percent: int,
        review: list[str],
        refused: list[str],
        unpriced: list[str],
        price_list_version: int,
        why: str,
    ) -> None:
        self._take_draft(
            terms, buyer, lines, vat_rate_percent, review, refused, unpriced, price_list_version
        )

    def _take_draft(
        self,
        terms: dict[str, Any],
        buyer: dict[str, str],
        lines: list[dict[str, Any]],
        vat_rate_percent: int,
        review: list[str],
        refused: list[str],
        unpriced: list[str],
        price_list_version: int,
    ) -> None:
        """What a draft sets, first made or made again (finance's adjustments start over)."""
        self.terms = terms
        self.buyer = buyer
        self.lines = lines
        self.vat_rate_percent = vat_rate_percent
        """The rate of the price list it was priced with, as it stood then."""
        self.review = review
        self.refused = refused
        self.unpriced = unpriced
        self.price_list_version = price_list_version
        self.adjustments: list[dict[str, Any]] = []

    def adjust(
        self,
        lines: list[QuoteLine],
        adjustment: dict[str, Any],
        reason: str,
        by: str,
        at: datetime,
        priced: bool,
    ) -> None:
        """Finance's change to a draft: its new lines, what was done and why."""
        if self.repeats_last_adjustment(adjustment, reason, by):
            return
        self._ensure_draft("adjusted")
        if not reason.strip():
            raise InvalidInput("an adjustment needs a reason", "reason")
        total = totals_of(lines)
        if total.ht_cents < 0:
            raise InvalidInput(
                f"the quote's total would be {total.ht_cents / 100:.2f} € HT: "
                "a discount cannot exceed the amount",
                "amount_cents",
            )
        self._adjusted(
            [line.model_dump(mode="json") for line in lines],
            {**adjustment, "reason": reason, "by": by, "at": at.isoformat()},
            priced,
        )

    def repeats_last_adjustment(self, adjustment: dict[str, Any], reason: str, by: str) -> bool:
        """Whether this adjustment is the last one made, sent again by the same person: a
        client retrying. (The same line twice on purpose needs its own reason.)"""
        if not self.adjustments:
            return False
        last = {k: v for k, v in self.adjustments[-1].items() if k != "at"}
        return last == {**adjustment, "reason": reason, "by": by}

    @event("Adjusted")
    def _adjusted(
        self, lines: list[dict[str, Any]], adjustment: dict[str, Any], priced: bool
    ) -> None:
        self.lines = lines
        self.adjustments.append(adjustment)
        if priced:
            self.unpriced = []

    def ensure_issuable(self) -> None:
        self._ensure_draft("issued again")
        if self.unpriced:
            raise Conflict(
                "the quote has lines finance must price first: "
                + "; ".join(self.unpriced)
                + " (POST an adjustment pricing them)",
                "quote",
            )

    def issue(self, number: str, at: datetime, by: str) -> None:
        self.ensure_issuable()
        self._issued(number, at, by)
        if self.signature is not None:  # registration said it was signed before the issue
            self._signature_applied()

    @event("Issued")
    def _issued(self, number: str, at: datetime, by: str) -> None:
        self.number = number
        self.issued_at = at
        self.issued_by = by
        self.status = QuoteStatus.ISSUED

    @event("SignatureApplied")
    def _signature_applied(self) -> None:
        self.status = QuoteStatus.SIGNED

    def sign(self, signed_by: str, signed_at: datetime) -> bool:
        """Registration says the order form was signed; False when already known. A
        signature that arrives before the quote is issued applies when it is."""
        if self.signature is not None:
            return False
        self._signed(signed_by, signed_at)
        return True

    @event("Signed")
    def _signed(self, signed_by: str, signed_at: datetime) -> None:
        self.signature = {"signed_by": signed_by, "signed_at": signed_at.isoformat()}
        if self.status is QuoteStatus.ISSUED:
            self.status = QuoteStatus.SIGNED

    def was_issued_by(self, by: str) -> bool:
        """Whether `by` issued this quote and it still stands: issuing it again is a retry."""
        return self.issued_by == by and self.status in (QuoteStatus.ISSUED, QuoteStatus.SIGNED)

    def was_cancelled_by(self, reason: str, by: str) -> bool:
        """Whether `by` cancelled this order form for `reason`: cancelling it again is a retry."""
        note = self.credit_note
        return note is not None and (note["reason"], note["by"]) == (reason, by)

    def cancel(self, credit_note: str, reason: str, by: str, at: datetime) -> None:
        if self.status not in (QuoteStatus.ISSUED, QuoteStatus.SIGNED):
            raise Conflict(
                f"quote {self.id} is {self.status.value}: only an issued order form is "
                "cancelled by a credit note (a draft is simply adjusted)",
                "number",
            )
        if not reason.strip():
            raise InvalidInput("a cancellation needs a reason", "reason")
        self._cancelled(credit_note, reason, by, at)

    @event("Cancelled")
    def _cancelled(self, credit_note: str, reason: str, by: str, at: datetime) -> None:
        self.credit_note = {
            "number": credit_note,
            "reason": reason,
            "by": by,
            "at": at.isoformat(),
        }
        self.status = QuoteStatus.CANCELLED
