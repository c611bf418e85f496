"""The HTTP API's request and response bodies. Amounts are integer euro cents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from baro_billing.domain import Quote, QuoteStatus
from baro_billing.pricing import PriceList
from baro_chassis.bounds import MAX_POPULATION, MAX_PRICE_CENTS
from baro_contracts.billing_v1 import Buyer, QuoteLine, Totals


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Cents = Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS)]
"""A price or an amount in cents: what the domain refuses (a negative price, a discount
larger than the quote) it says itself; this only keeps numbers within what can be a price."""


MAX_QUOTE_LINES = 1000
"""A quote has a line per priced site and option: tens at most."""


class PriceListIn(Body):
    """The prices to change; the others stay as they are."""

    small_structure_cents: Cents | None = Field(None, examples=[99_000])
    large_structure_cents: Cents | None = Field(None, examples=[125_000])
    oral_restitution_cents: Cents | None = Field(None, examples=[80_000])
    population_threshold: int | None = Field(None, ge=1, le=MAX_POPULATION, examples=[10_000])
    vat_rate_percent: int | None = Field(None, ge=0, le=100, examples=[20])


class PriceListOut(BaseModel):
    edition: int
    version: int
    small_structure_cents: int
    large_structure_cents: int
    oral_restitution_cents: int
    population_threshold: int
    vat_rate_percent: int

    @classmethod
    def of(cls, price_list: PriceList) -> PriceListOut:
        return cls(**price_list.__dict__)


class AdjustmentIn(Body):
    kind: Literal["discount", "custom_line", "price_line"] = Field(
        description="discount: `amount_cents` off; custom_line: a line of `label` at "
        "`amount_cents`; price_line: the line at `line_index` at `unit_cents`."
    )
    reason: str = Field(min_length=1, max_length=2000, description="Why: kept with the quote.")
    amount_cents: Cents | None = None
    unit_cents: Cents | None = None
    line_index: int | None = Field(None, ge=0, le=MAX_QUOTE_LINES)
    label: str | None = Field(None, min_length=1, max_length=200)


class CancellationIn(Body):
    reason: str = Field(min_length=1, max_length=2000)


class QuoteSummary(BaseModel):
    quote_id: UUID
    registration_id: UUID
    revision: int
    status: QuoteStatus
    buyer: Buyer
    totals: Totals
    number: str | None
    needs_review: bool
    can_issue: bool

    @classmethod
    def of(cls, quote: Quote) -> QuoteSummary:
        return cls(
            quote_id=quote.id,
            registration_id=quote.registration_id,
            revision=quote.revision,
            status=quote.status,
            buyer=Buyer(**quote.buyer),
            totals=quote.totals,
            number=quote.number,
            needs_review=bool(quote.review),
            can_issue=quote.status is QuoteStatus.DRAFT and not quote.unpriced,
        )


class QuoteOut(QuoteSummary):
    edition: int
    revises: str | None
    price_list_version: int
    vat_rate_percent: int
    lines: list[QuoteLine]
    review: list[str] = Field(description="Why finance should look at it before issuing.")
    refused: list[str] = Field(description="What was asked for and refused, and why.")
    unpriced: list[str] = Field(description="What finance must price before issuing.")
    adjustments: list[dict[str, Any]]
    drafted_at: datetime
    issued_at: datetime | None
    issued_by: str | None
    signature: dict[str, Any] | None
    credit_note: dict[str, Any] | None

    @classmethod
    def of(cls, quote: Quote) -> QuoteOut:
        return cls(
            **QuoteSummary.of(quote).model_dump(),
            edition=quote.edition,
            revises=quote.revises,
            price_list_version=quote.price_list_version,
            vat_rate_percent=quote.vat_rate_percent,
            lines=quote.quote_lines,
            review=quote.review,
            refused=quote.refused,
            unpriced=quote.unpriced,
            adjustments=quote.adjustments,
            drafted_at=quote.drafted_at,
            issued_at=quote.issued_at,
            issued_by=quote.issued_by,
            signature=quote.signature,
            credit_note=quote.credit_note,
        )


class QuoteList(BaseModel):
    edition: int
    quotes: list[QuoteSummary]


class OrderFormOut(BaseModel):
    number: str
    edition: int
    status: QuoteStatus
    quote_id: UUID
    registration_id: UUID
    buyer: Buyer
    lines: list[QuoteLine]
    totals: Totals
    vat_rate_percent: int
    issued_at: datetime
    issued_by: str
    signature: dict[str, Any] | None
    credit_note: dict[str, Any] | None
    pdf: str = Field(description="The same order form as a PDF.")


class CreditNoteOut(BaseModel):
    number: str
    edition: int
    order_form_number: str
    quote_id: UUID
    registration_id: UUID
    buyer: Buyer
    totals: Totals = Field(description="The amounts credited: the whole order form.")
    reason: str
    issued_at: datetime
    issued_by: str

    @classmethod
    def of(cls, quote: Quote) -> CreditNoteOut:
        note = quote.credit_note
        assert note is not None
        assert quote.number is not None
        return cls(
            number=note["number"],
            edition=quote.edition,
            order_form_number=quote.number,
            quote_id=quote.id,
            registration_id=quote.registration_id,
            buyer=Buyer(**quote.buyer),
            totals=quote.totals,
            reason=note["reason"],
            issued_at=datetime.fromisoformat(note["at"]),
            issued_by=note["by"],
        )


class CancelledOut(BaseModel):
    credit_note: str
    cancelled: OrderFormOut
    revision: QuoteOut
