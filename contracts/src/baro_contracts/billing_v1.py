"""billing.v1: the public events of the billing service, version 1.

Subjects are `billing.v1.<edition year>.<event name>` on the BILLING stream. Amounts are
integer euro cents, excluding VAT ("HT") unless named otherwise; VAT is rounded per line.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from baro_contracts.base import ContractEvent, ContractModel


class LineKind(StrEnum):
    PARTICIPATION = "participation"
    SITE = "site"
    ORAL_RESTITUTION = "oral_restitution"
    DISCOUNT = "discount"
    CUSTOM = "custom"


class QuoteLine(ContractModel):
    kind: LineKind
    label: str
    site_id: UUID | None = None
    quantity: int = Field(ge=1)
    unit_cents: int
    amount_cents: int = Field(description="quantity x unit, HT.")
    vat_cents: int = Field(description="The line's VAT, rounded half away from zero.")


class Totals(ContractModel):
    ht_cents: int
    vat_cents: int
    ttc_cents: int


class Buyer(ContractModel):
    name: str
    siret: str = Field(pattern=r"^[0-9]{14}$")
    address: str


class BillingEvent(ContractEvent):
    service: ClassVar[str] = "billing"
    version: ClassVar[int] = 1


class QuoteIssued(BillingEvent):
    """Finance issued a quote: from now on it is immutable, and it is the order form below."""

    name: ClassVar[str] = "quote_issued"
    event_type: Literal["billing.v1.quote_issued"] = "billing.v1.quote_issued"
    quote_id: UUID
    registration_id: UUID
    revises: str | None = Field(
        None, description="The order form number this quote replaces, for a revised quote."
    )
    price_list_version: int
    buyer: Buyer
    lines: list[QuoteLine]
    totals: Totals
    issued_at: datetime
    issued_by: str


class OrderFormIssued(BillingEvent):
    """An issued quote's order form, numbered without gaps per edition (BC-<year>-000001)."""

    name: ClassVar[str] = "order_form_issued"
    event_type: Literal["billing.v1.order_form_issued"] = "billing.v1.order_form_issued"
    number: str = Field(pattern=r"^BC-[0-9]{4}-[0-9]{6}$")
    quote_id: UUID
    registration_id: UUID
    buyer: Buyer
    totals: Totals
    issued_at: datetime


class OrderFormSigned(BillingEvent):
    """The structure signed its order form (registration said so)."""

    name: ClassVar[str] = "order_form_signed"
    event_type: Literal["billing.v1.order_form_signed"] = "billing.v1.order_form_signed"
    number: str
    registration_id: UUID
    signed_by: str
    signed_at: datetime


class CreditNoteIssued(BillingEvent):
    """An order form was cancelled by a credit note of its whole amount (AV-<year>-000001)."""

    name: ClassVar[str] = "credit_note_issued"
    event_type: Literal["billing.v1.credit_note_issued"] = "billing.v1.credit_note_issued"
    number: str = Field(pattern=r"^AV-[0-9]{4}-[0-9]{6}$")
    order_form_number: str
    registration_id: UUID
    totals: Totals = Field(description="The amounts credited (positive).")
    reason: str
    issued_at: datetime
    issued_by: str


EVENTS: tuple[type[ContractEvent], ...] = (
    QuoteIssued,
    OrderFormIssued,
    OrderFormSigned,
    CreditNoteIssued,
)
