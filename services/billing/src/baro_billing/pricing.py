"""The price list and the quote rules, with no I/O: what a registration costs.

Amounts are integer euro cents excluding VAT (HT). VAT is computed and rounded per line
(half away from zero, as French invoices do), and the totals are the sums of the lines.

Rules (domain.md, Pricing, 2025 list):
- free participation: one line at €0; a free participant asking for an oral restitution
  is refused it, with the reason on the quote;
- paid, one site: €990 for a local authority under 10,000 inhabitants or an annex structure
  (library, hospital), €1,250 for a local authority of 10,000 inhabitants and more; an oral
  restitution for the site +€800;
- paid, several sites: a draft with one line per site at list price (an annex site at the
  small price, the others at the structure's), flagged for finance's review; a restitution
  for several sites is a custom line that finance prices.
- **Decision**: the list is silent on other kinds (France Services, social services, tourist
  offices…): they are priced by population like a local authority when they give one, else
  at €1,250; the quote is flagged for finance to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from baro_contracts.billing_v1 import LineKind, QuoteLine, Totals
from baro_contracts.registration_v1 import (
    ANNEX_KINDS,
    LOCAL_AUTHORITY_KINDS,
    Participation,
    SiteKind,
    StructureKind,
)


@dataclass(frozen=True)
class PriceList:
    """An edition's prices, in cents HT. A version is final once a quote was issued with it."""

    edition: int
    version: int = 1
    small_structure_cents: int = 99_000
    large_structure_cents: int = 125_000
    oral_restitution_cents: int = 80_000
    population_threshold: int = 10_000
    """Local authorities of this many inhabitants and more pay the large price."""
    vat_rate_percent: int = 20

    def problems(self) -> list[str]:
        """What is wrong with these prices (empty when nothing)."""
        problems = []
        for name in ("small_structure_cents", "large_structure_cents", "oral_restitution_cents"):
            if getattr(self, name) < 0:
                problems.append(f"{name} cannot be negative")
        if self.population_threshold < 1:
            problems.append("population_threshold must be at least 1")
        if not 0 <= self.vat_rate_percent <= 100:
            problems.append("vat_rate_percent must be between 0 and 100")
        return problems


def default_price_list(edition: int) -> PriceList:
    """The 2025 price list, the default of every edition until an admin changes it."""
    return PriceList(edition)


@dataclass(frozen=True)
class SiteTerms:
    site_id: UUID
    name: str
    kind: SiteKind


@dataclass(frozen=True)
class Terms:
    """What registration says of a structure that billing prices."""

    registration_id: UUID
    edition: int
    structure_name: str
    siret: str
    address: str
    kind: StructureKind
    population: int | None
    participation: Participation
    oral_restitution: bool
    sites: tuple[SiteTerms, ...]


@dataclass(frozen=True)
class Draft:
    """A quote as the rules make it: its lines, and why finance must look at it."""

    lines: tuple[QuoteLine, ...]
    vat_rate_percent: int
    """The rate its lines' VAT is at; finance's adjustments use it too."""
    review: tuple[str, ...] = ()
    """Why finance must review (and perhaps price) it before issuing it."""
    refused: tuple[str, ...] = ()
    """What was asked for and refused, with the reason."""
    unpriced: tuple[str, ...] = ()
    """Custom lines finance must price before the quote can be issued."""


def vat_of(amount_cents: int, rate_percent: int) -> int:
    """A line's VAT in cents, rounded half away from zero."""
    vat = Decimal(amount_cents) * Decimal(rate_percent) / Decimal(100)
    return int(vat.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line(
    kind: LineKind,
    label: str,
    unit_cents: int,
    rate_percent: int,
    *,
    quantity: int = 1,
    site_id: UUID | None = None,
) -> QuoteLine:
    amount = unit_cents * quantity
    return QuoteLine(
        kind=kind,
        label=label,
        site_id=site_id,
        quantity=quantity,
        unit_cents=unit_cents,
        amount_cents=amount,
        vat_cents=vat_of(amount, rate_percent),
    )


def totals_of(lines: tuple[QuoteLine, ...] | list[QuoteLine]) -> Totals:
    ht = sum(line.amount_cents for line in lines)
    vat = sum(line.vat_cents for line in lines)
    return Totals(ht_cents=ht, vat_cents=vat, ttc_cents=ht + vat)


def structure_price(terms: Terms, prices: PriceList) -> tuple[int, str | None]:
    """The structure's list price, and why finance should confirm it (None when the list
    says it plainly)."""
    if terms.kind in ANNEX_KINDS:
        return prices.small_structure_cents, None
    small = terms.population is not None and terms.population < prices.population_threshold
    price = prices.small_structure_cents if small else prices.large_structure_cents
    if terms.kind in LOCAL_AUTHORITY_KINDS:
        return price, None
    basis = (
        f"{terms.population:,} inhabitants".replace(",", " ")
        if terms.population is not None
        else "no population given"
    )
    return price, (
        f"the price list does not name {terms.kind.value} structures: priced as a local "
        f"authority ({basis}); confirm the price"
    )


def draft_quote(terms: Terms, prices: PriceList) -> Draft:
    """The quote the rules give for these terms."""
    rate = prices.vat_rate_percent
    if terms.participation is Participation.FREE:
        refused: tuple[str, ...] = ()
        if terms.oral_restitution:
            refused = (
                "oral restitution refused: free participants receive synthetic results only; "
                "switch to paid participation to order one",
            )
        return Draft(
            (
                line(
                    LineKind.PARTICIPATION,
                    "Participation gratuite (résultats synthétiques)",
                    0,
                    rate,
                ),
            ),
            rate,
            refused=refused,
        )
    price, doubt = structure_price(terms, prices)
    review = [doubt] if doubt else []
    if len(terms.sites) <= 1:
        lines = [
            line(
                LineKind.PARTICIPATION,
                f"Participation payante, {terms.structure_name}",
                price,
                rate,
            )
        ]
        if terms.oral_restitution:
            lines.append(
                line(
                    LineKind.ORAL_RESTITUTION,
                    "Restitution orale par un expert (un site)",
                    prices.oral_restitution_cents,
                    rate,
                )
            )
        return Draft(tuple(lines), rate, review=tuple(review))
    lines = [
        line(
            LineKind.SITE,
            f"Participation payante, site {site.name}",
            prices.small_structure_cents if site.kind is SiteKind.ANNEX else price,
            rate,
            site_id=site.site_id,
        )
        for site in terms.sites
    ]
    review.insert(0, f"{len(terms.sites)} sites: a custom quote; lines are at list price")
    unpriced: tuple[str, ...] = ()
    if terms.oral_restitution:
        lines.append(
            line(LineKind.CUSTOM, f"Restitution orale ({len(terms.sites)} sites)", 0, rate)
        )
        unpriced = (f"the oral restitution for {len(terms.sites)} sites has no list price",)
    return Draft(tuple(lines), rate, review=tuple(review), unpriced=unpriced)


def repriced(line_: QuoteLine, unit_cents: int, rate_percent: int) -> QuoteLine:
    """The line at another unit price (finance pricing a custom line)."""
    return line(
        line_.kind,
        line_.label,
        unit_cents,
        rate_percent,
        quantity=line_.quantity,
        site_id=line_.site_id,
    )
