"""Every rule of the price list, on quotes drafted from registration terms."""

from __future__ import annotations

from uuid import uuid4

import pytest

from baro_billing.pricing import (
    PriceList,
    SiteTerms,
    Terms,
    default_price_list,
    draft_quote,
    line,
    totals_of,
    vat_of,
)
from baro_contracts.billing_v1 import LineKind
from baro_contracts.registration_v1 import Participation, SiteKind, StructureKind

pytestmark = pytest.mark.unit
PRICES = default_price_list(2025)


def terms(
    kind: StructureKind = StructureKind.COMMUNE,
    population: int | None = 25_000,
    *,
    participation: Participation = Participation.PAID,
    restitution: bool = False,
    sites: int = 1,
    annex_sites: int = 0,
) -> Terms:
    site_terms = [SiteTerms(uuid4(), f"Site {n}", SiteKind.MAIN) for n in range(sites)]
    site_terms += [SiteTerms(uuid4(), f"Annexe {n}", SiteKind.ANNEX) for n in range(annex_sites)]
    return Terms(
        registration_id=uuid4(),
        edition=2025,
        structure_name="Mairie de Dax",
        siret="21400088800017",
        address="Rue Saint-Pierre, 40100 Dax",
        kind=kind,
        population=population,
        participation=participation,
        oral_restitution=restitution,
        sites=tuple(site_terms),
    )


def ht(draft_terms: Terms, prices: PriceList = PRICES) -> int:
    return totals_of(draft_quote(draft_terms, prices).lines).ht_cents


def test_free_participation_costs_nothing() -> None:
    draft = draft_quote(terms(participation=Participation.FREE), PRICES)
    assert [(x.kind, x.amount_cents) for x in draft.lines] == [(LineKind.PARTICIPATION, 0)]
    assert totals_of(draft.lines).ttc_cents == 0
    assert draft.review == ()
    assert draft.refused == ()


def test_a_free_participant_asking_for_a_restitution_is_refused_it_with_the_reason() -> None:
    draft = draft_quote(terms(participation=Participation.FREE, restitution=True), PRICES)
    assert totals_of(draft.lines).ht_cents == 0
    assert all(x.kind is not LineKind.ORAL_RESTITUTION for x in draft.lines)
    assert len(draft.refused) == 1
    assert "free participants" in draft.refused[0]
    assert "switch to paid" in draft.refused[0]


@pytest.mark.parametrize(
    ("population", "cents"),
    [(0, 99_000), (9_999, 99_000), (10_000, 125_000), (10_001, 125_000), (2_000_000, 125_000)],
)
def test_a_local_authority_pays_by_its_population(population: int, cents: int) -> None:
    for kind in (StructureKind.COMMUNE, StructureKind.INTERCOMMUNALITY, StructureKind.REGION):
        draft = draft_quote(terms(kind, population), PRICES)
        assert ht(terms(kind, population)) == cents
        assert draft.review == ()


@pytest.mark.parametrize("kind", [StructureKind.LIBRARY, StructureKind.HOSPITAL])
def test_an_annex_structure_pays_the_small_price_whatever_its_population(
    kind: StructureKind,
) -> None:
    assert ht(terms(kind, None)) == 99_000
    assert ht(terms(kind, 500_000)) == 99_000
    assert draft_quote(terms(kind, None), PRICES).review == ()


def test_kinds_the_list_does_not_name_are_priced_by_population_and_flagged() -> None:
    small = draft_quote(terms(StructureKind.FRANCE_SERVICES, 4_000), PRICES)
    unknown = draft_quote(terms(StructureKind.TOURIST_OFFICE, None), PRICES)
    assert totals_of(small.lines).ht_cents == 99_000
    assert totals_of(unknown.lines).ht_cents == 125_000
    assert "does not name france_services" in small.review[0]
    assert "no population given" in unknown.review[0]


def test_an_oral_restitution_for_one_site_adds_800_euros() -> None:
    draft = draft_quote(terms(population=9_999, restitution=True), PRICES)
    assert [(x.kind, x.amount_cents) for x in draft.lines] == [
        (LineKind.PARTICIPATION, 99_000),
        (LineKind.ORAL_RESTITUTION, 80_000),
    ]
    assert totals_of(draft.lines).model_dump() == {
        "ht_cents": 179_000,
        "vat_cents": 35_800,
        "ttc_cents": 214_800,
    }


def test_several_sites_make_a_draft_with_a_line_per_site_for_finance_to_review() -> None:
    draft = draft_quote(terms(population=30_000, sites=2, annex_sites=1), PRICES)
    assert [(x.kind, x.amount_cents) for x in draft.lines] == [
        (LineKind.SITE, 125_000),
        (LineKind.SITE, 125_000),
        (LineKind.SITE, 99_000),  # an annex site (a library, say) at the small price
    ]
    assert all(x.site_id is not None for x in draft.lines)
    assert draft.review[0].startswith("3 sites")
    assert draft.unpriced == ()


def test_a_restitution_for_several_sites_is_a_custom_line_finance_prices() -> None:
    draft = draft_quote(terms(sites=2, restitution=True), PRICES)
    custom = [x for x in draft.lines if x.kind is LineKind.CUSTOM]
    assert len(custom) == 1
    assert custom[0].amount_cents == 0
    assert "has no list price" in draft.unpriced[0]


def test_the_edition_price_list_is_used() -> None:
    prices = PriceList(2026, version=2, small_structure_cents=105_000, vat_rate_percent=20)
    assert ht(terms(population=100), prices) == 105_000


@pytest.mark.parametrize(
    ("amount", "vat"),
    [
        (125_000, 25_000),
        (1, 0),
        (2, 0),
        (3, 1),
        (7, 1),
        (8, 2),
        (12_345, 2_469),
        (-3, -1),
        (-8, -2),
    ],
)
def test_vat_is_rounded_per_line_half_away_from_zero(amount: int, vat: int) -> None:
    # 3 x 20 % = 0.6 -> 1; 7 x 20 % = 1.4 -> 1; 12,345 x 20 % = 2,469
    assert vat_of(amount, 20) == vat


def test_totals_add_the_rounded_vat_of_each_line() -> None:
    # two lines of 2.53 € HT: VAT 0.506 each -> 0.51 each, 1.02 in all (not 1.01 on 5.06)
    lines = [line(LineKind.CUSTOM, "a", 253, 20), line(LineKind.CUSTOM, "b", 253, 20)]
    assert totals_of(lines).model_dump() == {"ht_cents": 506, "vat_cents": 102, "ttc_cents": 608}


def test_a_price_list_with_a_negative_price_says_so() -> None:
    assert PriceList(2025, small_structure_cents=-1).problems() == [
        "small_structure_cents cannot be negative"
    ]
    assert default_price_list(2025).problems() == []
