"""Thin HTTP routes over the billing application: price lists (admin), quotes and order
forms (AFNOR finance; a structure reads its own order form to sign it)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from baro_billing.application import BillingApplication
from baro_billing.domain import BillingError, Conflict, InvalidInput, NotFound, Quote, QuoteStatus
from baro_billing.pdf import OrderFormPdf, PdfLine, render_order_form
from baro_billing.schemas import (
    AdjustmentIn,
    CancellationIn,
    CancelledOut,
    CreditNoteOut,
    OrderFormOut,
    PriceListIn,
    PriceListOut,
    QuoteList,
    QuoteOut,
    QuoteSummary,
)
from baro_chassis.auth import Principal, Role, ensure_registration, require
from baro_chassis.bounds import Year
from baro_chassis.errors import install_refusals
from baro_chassis.routing import GuardedRoute
from baro_contracts.billing_v1 import Buyer

PARIS = ZoneInfo("Europe/Paris")
PDF = "application/pdf"
router = APIRouter(route_class=GuardedRoute)

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Finance = Annotated[Principal, Depends(require(Role.ADMIN, Role.FINANCE))]
OrderFormReader = Annotated[Principal, Depends(require(Role.ADMIN, Role.FINANCE, structure=True))]


async def application(request: Request) -> BillingApplication:
    app: BillingApplication = request.app.state.application
    return app


App = Annotated[BillingApplication, Depends(application)]


def install_domain_errors(app: FastAPI) -> None:
    install_refusals(
        app,
        BillingError,
        {
            InvalidInput: (422, "invalid_request"),
            Conflict: (409, "conflict"),
            NotFound: (404, "not_found"),
        },
    )


@router.get("/editions/{year}/price-list", response_model=PriceListOut, tags=["price lists"])
async def get_price_list(year: Year, _: Finance, app: App) -> PriceListOut:
    return PriceListOut.of(await run_in_threadpool(app.price_list, year))


@router.put("/editions/{year}/price-list", response_model=PriceListOut, tags=["price lists"])
async def set_price_list(year: Year, body: PriceListIn, who: Admin, app: App) -> PriceListOut:
    """Change the edition's prices: the current version until a quote is issued with it, a
    new version after (issued quotes keep theirs)."""

    def change() -> PriceListOut:
        current = app.price_list(year).__dict__
        prices = {
            name: value if value is not None else current[name]
            for name, value in body.model_dump().items()
        }
        return PriceListOut.of(app.set_price_list(year, prices, who.subject))

    return await run_in_threadpool(change)


@router.get("/editions/{year}/quotes", response_model=QuoteList, tags=["quotes"])
async def list_quotes(
    year: Year, _: Finance, app: App, status: QuoteStatus | None = None
) -> QuoteList:
    quotes = await run_in_threadpool(app.quotes, year, status)
    return QuoteList(edition=year, quotes=[QuoteSummary.of(q) for q in quotes])


@router.get("/quotes/{quote_id}", response_model=QuoteOut, tags=["quotes"])
async def get_quote(quote_id: UUID, _: Finance, app: App) -> QuoteOut:
    return QuoteOut.of(await run_in_threadpool(app.quote, quote_id))


@router.post("/quotes/{quote_id}/adjustments", response_model=QuoteOut, tags=["quotes"])
async def adjust_quote(quote_id: UUID, body: AdjustmentIn, who: Finance, app: App) -> QuoteOut:
    fields = body.model_dump(exclude={"kind"}, exclude_none=True)
    quote = await run_in_threadpool(lambda: app.adjust(quote_id, body.kind, who.subject, **fields))
    return QuoteOut.of(quote)


@router.post("/quotes/{quote_id}/issue", response_model=QuoteOut, tags=["quotes"])
async def issue_quote(quote_id: UUID, who: Finance, app: App) -> QuoteOut:
    """Issue the draft: immutable from now on, it is the edition's next order form."""
    return QuoteOut.of(await run_in_threadpool(app.issue, quote_id, who.subject))


def order_form_out(quote: Quote) -> OrderFormOut:
    assert quote.number is not None
    assert quote.issued_at is not None
    return OrderFormOut(
        number=quote.number,
        edition=quote.edition,
        status=quote.status,
        quote_id=quote.id,
        registration_id=quote.registration_id,
        buyer=Buyer(**quote.buyer),
        lines=quote.quote_lines,
        totals=quote.totals,
        vat_rate_percent=quote.vat_rate_percent,
        issued_at=quote.issued_at,
        issued_by=quote.issued_by or "",
        signature=quote.signature,
        credit_note=quote.credit_note,
        pdf=f"/order-forms/{quote.number}/pdf",
    )


def order_form_pdf(form: OrderFormOut) -> bytes:
    return render_order_form(
        OrderFormPdf(
            number=form.number,
            edition=form.edition,
            issued_on=form.issued_at.astimezone(PARIS).date(),
            buyer_name=form.buyer.name,
            buyer_siret=form.buyer.siret,
            buyer_address=form.buyer.address,
            lines=tuple(
                PdfLine(x.label, x.quantity, x.unit_cents, x.amount_cents, x.vat_cents)
                for x in form.lines
            ),
            total_ht_cents=form.totals.ht_cents,
            total_vat_cents=form.totals.vat_cents,
            total_ttc_cents=form.totals.ttc_cents,
            vat_rate_percent=form.vat_rate_percent,
            status=form.status.value,
        )
    )


async def _order_form(number: str, who: Principal, app: BillingApplication) -> OrderFormOut:
    def read() -> OrderFormOut:
        quote = app.order_form(number)
        ensure_registration(who, quote.registration_id, Role.ADMIN, Role.FINANCE)
        return order_form_out(quote)

    return await run_in_threadpool(read)


@router.get(
    "/order-forms/{number}",
    response_model=OrderFormOut,
    responses={200: {"content": {PDF: {}}, "description": "JSON, or the PDF with Accept: pdf"}},
    tags=["order forms"],
)
async def get_order_form(number: str, request: Request, who: OrderFormReader, app: App) -> Response:
    form = await _order_form(number, who, app)
    if PDF in request.headers.get("accept", ""):
        return _pdf_response(form)
    return JSONResponse(form.model_dump(mode="json"))


@router.get(
    "/order-forms/{number}/pdf",
    response_class=Response,
    responses={200: {"content": {PDF: {}}}},
    tags=["order forms"],
)
async def get_order_form_pdf(number: str, who: OrderFormReader, app: App) -> Response:
    return _pdf_response(await _order_form(number, who, app))


def _pdf_response(form: OrderFormOut) -> Response:
    return Response(
        order_form_pdf(form),
        media_type=PDF,
        headers={"Content-Disposition": f'inline; filename="{form.number}.pdf"'},
    )


@router.post("/order-forms/{number}/cancel", response_model=CancelledOut, tags=["order forms"])
async def cancel_order_form(
    number: str, body: CancellationIn, who: Finance, app: App
) -> CancelledOut:
    """Cancel an order form with a credit note of its whole amount; its quote's next
    revision is drafted from the same terms, for finance to amend and issue."""

    def cancel() -> CancelledOut:
        cancelled, revision = app.cancel(number, body.reason, who.subject)
        assert cancelled.credit_note is not None
        return CancelledOut(
            credit_note=cancelled.credit_note["number"],
            cancelled=order_form_out(cancelled),
            revision=QuoteOut.of(revision),
        )

    return await run_in_threadpool(cancel)


@router.get("/credit-notes/{number}", response_model=CreditNoteOut, tags=["order forms"])
async def get_credit_note(number: str, who: OrderFormReader, app: App) -> CreditNoteOut:
    def read() -> CreditNoteOut:
        quote = app.credit_note(number)
        ensure_registration(who, quote.registration_id, Role.ADMIN, Role.FINANCE)
        return CreditNoteOut.of(quote)

    return await run_in_threadpool(read)
