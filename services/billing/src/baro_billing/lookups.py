"""What an edition's documents are, derived from the edition's events beside the event store:
a registration's quotes, what an order form or credit note number names, and whether an
order form was cancelled. The edition only counts its documents (its snapshot would grow
with each), and the lookups are derived from the events that always recorded them
(`QuoteAdded`, `OrderFormNumbered`, `CreditNoteNumbered`), so a store written when the
edition listed them is read the same.

Every read first catches the lookups up to the edition as the caller loaded it, so a command
sees at least what its edition's version saw; the edition's version still serialises the
commands that number documents.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from baro_billing.domain import BillingEdition
from baro_chassis.aggregate_lookups import Entry, open_aggregate_lookups
from baro_chassis.eventstore import TracedApplication

TABLE = "billing_edition_lookups"
TOPIC = "baro_billing.domain:BillingEdition.{}"

QUOTES = "quotes"
"""Registration id → its quote ids, revision after revision."""
ORDER_FORMS = "order_forms"
"""Order form number → the quote id it was issued as."""
CREDIT_NOTES = "credit_notes"
"""Credit note number → the order form number it cancels."""
CANCELLATIONS = "cancellations"
"""Order form number → the credit note number that cancelled it."""


def _quote_added(event: Any) -> list[Entry]:
    return [Entry(QUOTES, str(event.registration_id), str(event.quote_id))]


def _order_form_numbered(event: Any) -> list[Entry]:
    return [Entry(ORDER_FORMS, event.number, str(event.quote_id))]


def _credit_note_numbered(event: Any) -> list[Entry]:
    return [
        Entry(CREDIT_NOTES, event.number, event.order_form),
        Entry(CANCELLATIONS, event.order_form, event.number),
    ]


DERIVATIONS = {
    TOPIC.format("QuoteAdded"): _quote_added,
    TOPIC.format("OrderFormNumbered"): _order_form_numbered,
    TOPIC.format("CreditNoteNumbered"): _credit_note_numbered,
}


class EditionLookups:
    def __init__(self, application: TracedApplication) -> None:
        self._lookups = open_aggregate_lookups(application, TABLE, DERIVATIONS)

    def _scope(self, edition: BillingEdition) -> UUID:
        self._lookups.catch_up(edition.id, edition.version)
        return edition.id

    def quote_ids(self, edition: BillingEdition, registration_id: UUID) -> list[UUID]:
        """The registration's quotes, revision after revision."""
        found = self._lookups.values(self._scope(edition), QUOTES, str(registration_id))
        return [UUID(quote_id) for quote_id in found]

    def current_quote_id(self, edition: BillingEdition, registration_id: UUID) -> UUID | None:
        ids = self.quote_ids(edition, registration_id)
        return ids[-1] if ids else None

    def all_quote_ids(self, edition: BillingEdition) -> list[UUID]:
        """Every quote of the edition, by registration (in the order they registered) then
        revision."""
        return [UUID(q) for _, q in self._lookups.entries(self._scope(edition), QUOTES)]

    def order_form_quote(self, edition: BillingEdition, number: str) -> UUID | None:
        quote_id = self._lookups.value(self._scope(edition), ORDER_FORMS, number)
        return UUID(quote_id) if quote_id is not None else None

    def credit_note_order_form(self, edition: BillingEdition, number: str) -> str | None:
        return self._lookups.value(self._scope(edition), CREDIT_NOTES, number)

    def cancelled_by(self, edition: BillingEdition, order_form: str) -> str | None:
        """The credit note that cancelled the order form, if one did."""
        return self._lookups.value(self._scope(edition), CANCELLATIONS, order_form)
