"""The billing application: one method per command (get, act, save).

Registration's contract events arrive through `on_*` methods; each is idempotent, so a
redelivered or duplicated event never makes a second quote. Finance's commands adjust,
issue and cancel; issuing and cancelling number their document in the same atomic save, and
retry when another save of the edition came first, so numbers have no gaps. Which quotes a
registration has and what a number names are read from the edition's lookups
(`EditionLookups`), caught up to the edition each command loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any
from uuid import UUID

from baro_billing.domain import (
    BillingEdition,
    Conflict,
    InvalidInput,
    NotFound,
    Quote,
    QuoteStatus,
    draft_fields,
    edition_of_number,
    prices_of,
)
from baro_billing.lookups import EditionLookups
from baro_billing.pricing import (
    PriceList,
    SiteTerms,
    Terms,
    default_price_list,
    draft_quote,
    line,
    repriced,
)
from baro_chassis.eventstore import TracedApplication, retry_on_conflict
from baro_chassis.service import Clock, utc_now
from baro_contracts import registration_v1 as reg
from baro_contracts.billing_v1 import LineKind

ADJUSTMENTS = ("discount", "custom_line", "price_line")


def terms_of(event: reg.StructureRegistered) -> Terms:
    main = next((s for s in event.sites if s.kind is reg.SiteKind.MAIN), None)
    address = (main or event.sites[0]).address if event.sites else ""
    return Terms(
        registration_id=event.registration_id,
        edition=event.edition,
        structure_name=event.structure_name,
        siret=event.siret,
        address=address,
        kind=event.kind,
        population=event.population,
        participation=event.participation,
        oral_restitution=event.options.oral_restitution,
        sites=tuple(SiteTerms(s.site_id, s.name, s.kind) for s in event.sites),
    )


def terms_document(terms: Terms) -> dict[str, Any]:
    document = asdict(terms)
    document["registration_id"] = str(terms.registration_id)
    document["kind"] = terms.kind.value
    document["participation"] = terms.participation.value
    document["sites"] = [
        {"site_id": str(s.site_id), "name": s.name, "kind": s.kind.value} for s in terms.sites
    ]
    return document


def terms_from(document: dict[str, Any]) -> Terms:
    return Terms(
        registration_id=UUID(document["registration_id"]),
        edition=document["edition"],
        structure_name=document["structure_name"],
        siret=document["siret"],
        address=document["address"],
        kind=reg.StructureKind(document["kind"]),
        population=document["population"],
        participation=reg.Participation(document["participation"]),
        oral_restitution=document["oral_restitution"],
        sites=tuple(
            SiteTerms(UUID(s["site_id"]), s["name"], reg.SiteKind(s["kind"]))
            for s in document["sites"]
        ),
    )


def buyer_of(terms: Terms) -> dict[str, str]:
    return {"name": terms.structure_name, "siret": terms.siret, "address": terms.address}


class BillingApplication(TracedApplication):
    name = "billing"
    snapshotting_intervals = {BillingEdition: 100}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.clock = clock
        self.lookups = EditionLookups(self)

    # --- editions and price lists -------------------------------------------------------

    def _edition_or_new(self, year: int) -> BillingEdition:
        edition = self.find(BillingEdition, BillingEdition.create_id(year))
        if edition is None:
            edition = BillingEdition(year, prices_of(default_price_list(year)))
        return edition

    def edition(self, year: int) -> BillingEdition:
        """The edition, once billing has received its opening (or a registration to it)
        from registration's events."""
        edition: BillingEdition | None = self.find(BillingEdition, BillingEdition.create_id(year))
        if edition is None:
            raise NotFound(
                f"edition {year} is unknown to billing: editions are opened in the "
                "registration service, and arrive here from its events",
                "year",
            )
        return edition

    def on_edition_opened(self, event: reg.EditionOpened) -> BillingEdition:
        """The edition, with the default price list until an admin sets it (idempotent)."""

        def attempt() -> BillingEdition:
            edition = self.find(BillingEdition, BillingEdition.create_id(event.edition))
            if edition is None:
                edition = self._edition_or_new(event.edition)
                self.save(edition)
            return edition

        return retry_on_conflict(attempt)

    def price_list(self, year: int) -> PriceList:
        """The edition's current price list (the default one until an admin sets it)."""
        return self.edition(year).price_list

    def set_price_list(self, year: int, prices: dict[str, int], by: str) -> PriceList:
        """The edition's new prices. Drafts finance has not adjusted are made again at them;
        issued quotes keep theirs."""

        def attempt() -> PriceList:
            edition = self.edition(year)
            price_list = edition.set_price_list(PriceList(year, **prices), by)
            self.save(edition)
            return price_list

        price_list = retry_on_conflict(attempt)
        for quote_id in self.lookups.all_quote_ids(self.edition(year)):
            self._reprice(quote_id, price_list)
        return price_list

    def _reprice(self, quote_id: UUID, price_list: PriceList) -> None:
        def attempt() -> None:
            quote = self.quote(quote_id)
            if quote.status is not QuoteStatus.DRAFT or quote.adjustments:
                return
            self._redraft(
                quote,
                terms_from(quote.terms),
                price_list,
                f"price list version {price_list.version} changed",
            )
            self.save(quote)

        retry_on_conflict(attempt)

    def _redraft(self, quote: Quote, terms: Terms, price_list: PriceList, why: str) -> None:
        quote.redraft(
            terms_document(terms),
            buyer_of(terms),
            draft_quote(terms, price_list),
            price_list.version,
            why,
        )

    # --- registration's events ----------------------------------------------------------

    def on_structure_registered(self, event: reg.StructureRegistered) -> Quote | None:
        """The registration's first quote, drafted by the rules; None when it exists."""

        def attempt() -> Quote | None:
            edition = self._edition_or_new(event.edition)
            if self.lookups.quote_ids(edition, event.registration_id):
                return None
            quote = self._draft(edition, terms_of(event), revision=1, revises=None)
            edition.add_quote(event.registration_id, quote.id, quote_ids=[])
            self.save(edition, quote)
            return quote

        return retry_on_conflict(attempt)

    def _draft(
        self, edition: BillingEdition, terms: Terms, revision: int, revises: str | None
    ) -> Quote:
        price_list = edition.price_list
        return Quote(
            registration_id=terms.registration_id,
            revision=revision,
            edition=terms.edition,
            terms=terms_document(terms),
            buyer=buyer_of(terms),
            **draft_fields(draft_quote(terms, price_list)),
            price_list_version=price_list.version,
            revises=revises,
            drafted_at=self.clock(),
        )

    def _current(self, year: int, registration_id: UUID) -> tuple[BillingEdition, Quote]:
        edition = self.edition(year)
        quote_id = self.lookups.current_quote_id(edition, registration_id)
        if quote_id is None:
            raise NotFound(f"registration {registration_id} has no quote in edition {year}")
        return edition, self.quote(quote_id)

    def _terms_changed(
        self, year: int, registration_id: UUID, change: Callable[[Terms], Terms], why: str
    ) -> Quote:
        """Registration's terms changed: a draft is made again; an issued quote is left as it
        is, and a new revision is drafted and flagged for finance."""

        def attempt() -> Quote:
            edition, quote = self._current(year, registration_id)
            terms = terms_from(quote.terms)
            changed = change(terms)
            if changed == terms:
                return quote  # already applied: a redelivery
            if quote.status is QuoteStatus.DRAFT:
                self._redraft(quote, changed, edition.price_list, why)
                self.save(quote)
                return quote
            quote_ids = self.lookups.quote_ids(edition, registration_id)
            revision = self._draft(edition, changed, len(quote_ids) + 1, quote.number)
            revision.review.insert(0, f"{why} after order form {quote.number} was issued")
            edition.add_quote(registration_id, revision.id, quote_ids)
            self.save(edition, revision)
            return revision

        return retry_on_conflict(attempt)

    def on_site_added(self, event: reg.SiteAdded) -> Quote:
        site = SiteTerms(event.site.site_id, event.site.name, event.site.kind)

        def change(terms: Terms) -> Terms:
            if any(s.site_id == site.site_id for s in terms.sites):
                return terms
            return replace(terms, sites=(*terms.sites, site))

        return self._terms_changed(event.edition, event.registration_id, change, "a site added")

    def on_switched_to_paid(self, event: reg.SwitchedToPaid) -> Quote:
        def change(terms: Terms) -> Terms:
            return replace(
                terms,
                participation=event.participation,
                oral_restitution=event.options.oral_restitution,
            )

        return self._terms_changed(
            event.edition, event.registration_id, change, "switched to paid participation"
        )

    def on_order_form_signed(self, event: reg.OrderFormSigned) -> Quote:
        def attempt() -> Quote:
            _, quote = self._current(event.edition, event.registration_id)
            if quote.sign(event.signed_by, event.signed_at):
                self.save(quote)
            return quote

        return retry_on_conflict(attempt)

    # --- finance ------------------------------------------------------------------------

    def quote(self, quote_id: UUID) -> Quote:
        quote: Quote | None = self.find(Quote, quote_id)
        if quote is None:
            raise NotFound(f"quote {quote_id} does not exist", "quote_id")
        return quote

    def quotes(self, year: int, status: QuoteStatus | None = None) -> list[Quote]:
        """Every quote of the edition, revisions included, by registration then revision."""
        found = [self.quote(q) for q in self.lookups.all_quote_ids(self.edition(year))]
        return [q for q in found if status is None or q.status is status]

    def adjust(self, quote_id: UUID, kind: str, by: str, **fields: Any) -> Quote:
        """Finance's change to a draft, always with a reason:
        - `discount`: `amount_cents` off, as a line of its own (`label` optional);
        - `custom_line`: a line of `label` at `amount_cents`;
        - `price_line`: the line at `line_index` at `unit_cents` (a custom line finance
          prices, or a site's list price changed)."""
        if kind not in ADJUSTMENTS:
            raise InvalidInput(f"kind must be one of {', '.join(ADJUSTMENTS)}", "kind")

        def attempt() -> Quote:
            quote = self.quote(quote_id)
            adjustment = {"kind": kind, **{k: v for k, v in fields.items() if k != "reason"}}
            reason = str(fields.get("reason") or "")
            if quote.repeats_last_adjustment(adjustment, reason, by):
                return quote  # sent again: answered as the first time
            rate = quote.vat_rate_percent
            lines = quote.quote_lines
            priced = False
            if kind == "discount":
                amount = _positive_cents(fields.get("amount_cents"), "amount_cents")
                label = fields.get("label") or "Remise"
                lines.append(line(LineKind.DISCOUNT, str(label), -amount, rate))
            elif kind == "custom_line":
                amount = _positive_cents(fields.get("amount_cents"), "amount_cents")
                label = str(fields.get("label") or "").strip()
                if not label:
                    raise InvalidInput("a custom line needs a label", "label")
                lines.append(line(LineKind.CUSTOM, label, amount, rate))
            else:
                index = fields.get("line_index")
                if not isinstance(index, int) or not 0 <= index < len(lines):
                    raise InvalidInput(
                        f"line_index must be the index of one of the quote's {len(lines)} "
                        "lines (from 0)",
                        "line_index",
                    )
                unit = _positive_cents(fields.get("unit_cents"), "unit_cents", zero=True)
                if lines[index].kind is LineKind.DISCOUNT:
                    raise InvalidInput("a discount line is not priced: add another", "line_index")
                priced = lines[index].kind is LineKind.CUSTOM
                lines[index] = repriced(lines[index], unit, rate)
            quote.adjust(lines, adjustment, reason, by, self.clock(), priced)
            self.save(quote)
            return quote

        return retry_on_conflict(attempt)

    def issue(self, quote_id: UUID, by: str) -> Quote:
        """The draft issued: immutable from now on, it is the edition's next order form."""

        def attempt() -> Quote:
            quote = self.quote(quote_id)
            if quote.was_issued_by(by):
                return quote  # sent again: answered as the first time
            quote.ensure_issuable()
            edition = self.edition(quote.edition)
            if self.lookups.current_quote_id(edition, quote.registration_id) != quote.id:
                raise Conflict(f"quote {quote_id} was replaced by a later revision", "quote")
            number = edition.number_order_form(quote.id, quote.price_list_version)
            quote.issue(number, self.clock(), by)
            self.save(edition, quote)
            return quote

        return retry_on_conflict(attempt)

    def order_form(self, number: str) -> Quote:
        year = edition_of_number(number, "BC")
        quote_id = self.lookups.order_form_quote(self.edition(year), number)
        if quote_id is None:
            raise NotFound(f"order form {number} does not exist", "number")
        return self.quote(quote_id)

    def credit_note(self, number: str) -> Quote:
        """The cancelled order form's quote that a credit note was issued for."""
        edition = self.edition(edition_of_number(number, "AV"))
        order_form = self.lookups.credit_note_order_form(edition, number)
        if order_form is None:
            raise NotFound(f"credit note {number} does not exist", "number")
        return self.order_form(order_form)

    def cancel(self, number: str, reason: str, by: str) -> tuple[Quote, Quote]:
        """The order form cancelled by a credit note of its whole amount, and a new revision
        of its quote drafted from the same terms for finance to amend and issue."""

        def attempt() -> tuple[Quote, Quote]:
            quote = self.order_form(number)
            edition = self.edition(quote.edition)
            if quote.was_cancelled_by(reason, by):  # sent again: answered as the first time
                return quote, self._revision_of(edition, quote)
            quote_ids = self.lookups.quote_ids(edition, quote.registration_id)
            credit_note = edition.number_credit_note(
                number, cancelled_by=self.lookups.cancelled_by(edition, number)
            )
            quote.cancel(credit_note, reason, by, self.clock())
            revision = self._draft(edition, terms_from(quote.terms), len(quote_ids) + 1, number)
            revision.review.insert(0, f"revision of cancelled order form {number}: {reason}")
            edition.add_quote(quote.registration_id, revision.id, quote_ids)
            self.save(edition, quote, revision)
            return quote, revision

        return retry_on_conflict(attempt)

    def _revision_of(self, edition: BillingEdition, cancelled: Quote) -> Quote:
        """The revision drafted when `cancelled` was (saved with its cancellation)."""
        for quote_id in self.lookups.quote_ids(edition, cancelled.registration_id):
            revision = self.quote(quote_id)
            if revision.revises == cancelled.number:
                return revision
        raise NotFound(f"no revision of order form {cancelled.number}", "number")


def _positive_cents(value: Any, field: str, *, zero: bool = False) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 0
        or (value == 0 and not zero)
    ):
        raise InvalidInput(
            f"{field} must be a whole number of cents, {'0 or more' if zero else 'above 0'} "
            "(e.g. 15000 for 150.00 €)",
            field,
        )
    return value
