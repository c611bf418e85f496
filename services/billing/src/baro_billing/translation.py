"""Domain events → billing.v1 contract events. Drafts and adjustments are internal."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from baro_billing.domain import Quote, QuoteStatus
from baro_chassis.translation import Translator
from baro_contracts import billing_v1 as v1
from baro_contracts.base import ContractEvent


class BillingTranslator(Translator):
    def _quote(self, quote_id: UUID) -> Quote:
        quote: Quote = self.application.repository.get(quote_id)
        return quote

    def quote_issued(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        quote: Quote = self.state_at(event)
        return v1.QuoteIssued(
            **common,
            edition=quote.edition,
            quote_id=quote.id,
            registration_id=quote.registration_id,
            revises=quote.revises,
            price_list_version=quote.price_list_version,
            buyer=v1.Buyer(**quote.buyer),
            lines=quote.quote_lines,
            totals=quote.totals,
            issued_at=event.at,
            issued_by=event.by,
        )

    def order_form_numbered(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        # Saved with the quote's Issued event: the quote as issued (immutable since).
        quote = self._quote(UUID(event.quote_id))
        return v1.OrderFormIssued(
            **common,
            edition=quote.edition,
            number=event.number,
            quote_id=quote.id,
            registration_id=quote.registration_id,
            buyer=v1.Buyer(**quote.buyer),
            totals=quote.totals,
            issued_at=quote.issued_at or event.timestamp,
        )

    def quote_signed(self, event: Any, common: dict[str, Any]) -> ContractEvent | None:
        quote: Quote = self.state_at(event)
        if quote.number is None or quote.signature is None:
            return None  # signed before it was issued: announced once it is
        return v1.OrderFormSigned(
            **common,
            edition=quote.edition,
            number=quote.number,
            registration_id=quote.registration_id,
            signed_by=quote.signature["signed_by"],
            signed_at=quote.signature["signed_at"],
        )

    def quote_cancelled(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        quote: Quote = self.state_at(event)
        assert quote.status is QuoteStatus.CANCELLED
        assert quote.number is not None
        return v1.CreditNoteIssued(
            **common,
            edition=quote.edition,
            number=event.credit_note,
            order_form_number=quote.number,
            registration_id=quote.registration_id,
            totals=quote.totals,
            reason=event.reason,
            issued_at=event.at,
            issued_by=event.by,
        )

    handlers = {
        "Quote.Issued": quote_issued,
        "BillingEdition.OrderFormNumbered": order_form_numbered,
        "Quote.Signed": quote_signed,
        "Quote.SignatureApplied": quote_signed,
        "Quote.Cancelled": quote_cancelled,
    }
