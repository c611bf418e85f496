"""Rankings, laureates and the edition's means (domain.md: "Scoring", "Categories")."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from baro_contracts import registration_v1 as reg
from baro_scoring.document import line_of, structure_document
from baro_scoring.facts import EditionFacts
from baro_scoring.figures import EditionFigures, StructureLine, edition_figures
from baro_scoring.results import edition_results
from scoring_builders import YEAR, Events

pytestmark = pytest.mark.unit

D = Decimal
BIG = "city_over_50k"
REGION = "region"


def line(
    name: str,
    global_score: str | None,
    processing: str | None = "50",
    *,
    category: str = BIG,
    complete: bool = True,
    certified: bool = False,
    channels: dict[str, str] | None = None,
) -> StructureLine:
    return StructureLine(
        registration_id=uuid.uuid4(),
        name=name,
        category=category,
        participation="paid",
        certified=certified,
        complete=complete,
        probes=13 if complete else 7,
        planned=13,
        global_score=D(global_score) if global_score is not None else None,
        processing_score=D(processing) if processing is not None else None,
        channels={c: D(s) for c, s in (channels or {}).items()},
        channel_probes={},
        kpis={},
    )


def ranking(summary: EditionFigures, category: str = BIG) -> list[tuple[str | None, int | None]]:
    return [(entry.line.name, entry.rank) for entry in summary.rankings[category]]


def laureates(summary: EditionFigures) -> set[tuple[str, str | None]]:
    return {(entry.category, entry.line.name) for entry in summary.laureates}


# --- rankings -----------------------------------------------------------------------------


def test_complete_structures_rank_by_global_score_and_incomplete_ones_follow_unranked() -> None:
    summary = edition_figures(
        YEAR,
        [
            line("Lyon", "70"),
            line("Dax", "60", complete=False),
            line("Cannes", "90"),
            line("Vernon", "95", complete=False),  # the best score, but not every probe is in
        ],
    )
    assert ranking(summary) == [("Cannes", 1), ("Lyon", 2), ("Vernon", None), ("Dax", None)]
    assert laureates(summary) == {(BIG, "Cannes")}


def test_a_tie_on_the_global_score_is_broken_by_the_processing_step_score() -> None:
    summary = edition_figures(YEAR, [line("Lyon", "80", "60"), line("Cannes", "80", "70")])
    assert ranking(summary) == [("Cannes", 1), ("Lyon", 2)]
    assert laureates(summary) == {(BIG, "Cannes")}


def test_a_full_tie_shares_the_rank_and_both_are_joint_laureates() -> None:
    summary = edition_figures(
        YEAR,
        [
            line("Vernon", "75", "90"),
            line("Lyon", "80", "70"),
            line("Cannes", "80.0", "70"),  # 80.0 is 80
            line("Dax", "70", "100"),
        ],
    )
    ranks = dict(ranking(summary))
    # 1, 1, then 3: the next rank after two first places
    assert ranks == {"Lyon": 1, "Cannes": 1, "Vernon": 3, "Dax": 4}
    assert laureates(summary) == {(BIG, "Lyon"), (BIG, "Cannes")}


def test_a_category_without_a_complete_structure_has_no_laureate() -> None:
    summary = edition_figures(
        YEAR,
        [
            line("Lyon", "70"),
            line("Grand Est", "95", category=REGION, complete=False),
        ],
    )
    assert ranking(summary, REGION) == [("Grand Est", None)]
    assert laureates(summary) == {(BIG, "Lyon")}


def test_each_category_has_its_own_ranking_and_laureate() -> None:
    summary = edition_figures(
        YEAR,
        [
            line("Lyon", "70"),
            line("Cannes", "60"),
            line("Grand Est", "50", category=REGION),
            line("Occitanie", "40", category=REGION),
        ],
    )
    assert ranking(summary) == [("Lyon", 1), ("Cannes", 2)]
    assert ranking(summary, REGION) == [("Grand Est", 1), ("Occitanie", 2)]
    assert laureates(summary) == {(BIG, "Lyon"), (REGION, "Grand Est")}


def test_a_structure_without_any_processing_score_loses_a_tie() -> None:
    summary = edition_figures(YEAR, [line("Lyon", "80", None), line("Cannes", "80", "0")])
    assert ranking(summary) == [("Cannes", 1), ("Lyon", 2)]


# --- means --------------------------------------------------------------------------------


def test_category_national_certified_and_channel_means() -> None:
    summary = edition_figures(
        YEAR,
        [
            line("Lyon", "80", certified=True, channels={"phone": "90", "email": "70"}),
            line("Cannes", "60", channels={"phone": "50", "email": "70"}),
            line("Dax", "40", complete=False, channels={"phone": "40"}),
            line("Grand Est", "30", category=REGION, certified=True, channels={"email": "30"}),
            line("Nowhere", None, category=REGION),  # no global score: in no mean
        ],
    )
    # categories: >50k (80 + 60 + 40) / 3 = 60; region 30 / 1
    assert summary.categories[BIG].score == D(60)
    assert summary.categories[BIG].structures == 3
    assert summary.categories[REGION].score == D(30)
    assert summary.categories[REGION].structures == 1
    # national: (80 + 60 + 40 + 30) / 4 = 52.5
    assert summary.national.score == D("52.5")
    assert summary.national.structures == 4
    assert summary.structures == 4
    # certified: (80 + 30) / 2 = 55; not certified: (60 + 40) / 2 = 50
    assert summary.certified.score == D(55)
    assert summary.not_certified.score == D(50)
    # channels over the structures scored on them: phone (90 + 50 + 40) / 3 = 60;
    # email (70 + 70 + 30) / 3 = 170/3
    assert summary.channels["phone"].score == D(60)
    assert summary.channels["email"].score == D("56.66666666666666666666666666666667")
    assert summary.channels["email"].structures == 3
    # per category: >50k email (70 + 70) / 2 = 70; region email 30, no phone
    assert summary.category_channels[BIG]["email"].score == D(70)
    assert summary.category_channels[BIG]["phone"].score == D(60)
    assert summary.category_channels[REGION]["email"].score == D(30)
    assert "phone" not in summary.category_channels[REGION]


def test_no_certified_structure_gives_no_certified_mean() -> None:
    summary = edition_figures(YEAR, [line("Lyon", "80")])
    assert summary.certified.score is None
    assert summary.certified.structures == 0
    assert summary.not_certified.score == D(80)


def test_a_global_score_of_exactly_zero_still_counts_in_the_means_and_the_ranking() -> None:
    e = Events()
    best = e.structure("Cannes")
    worst = e.structure("Vernon", certified=True)
    facts = EditionFacts(YEAR).add_all(
        [
            e.referential(),
            best,
            worst,
            e.plan(best, "website"),
            e.plan(worst, "website"),
            e.probe(best, "website", {"WEB-ACC-01": True}),
            e.probe(worst, "website", {"WEB-ACC-01": False}),
        ]
    )
    results = edition_results(facts)
    summary = edition_figures(YEAR, [line_of(structure_document(result)) for result in results])
    # national: (100 + 0) / 2 = 50, not 100 / 1
    assert summary.national.score == D(50)
    assert summary.national.structures == 2
    assert summary.categories[BIG].score == D(50)
    assert summary.certified.score == D(0)
    assert summary.certified.structures == 1
    assert summary.channels["website"].score == D(50)
    assert ranking(summary) == [("Cannes", 1), ("Vernon", 2)]


def test_the_means_of_an_edition_built_from_events() -> None:
    e = Events()
    lyon = e.structure("Lyon", certified=True)
    sables = e.structure("Les Sables", category=reg.Category.CITY_20K_50K)
    facts = EditionFacts(YEAR).add_all(
        [
            e.referential(),
            lyon,
            sables,
            e.plan(lyon, "phone", "email"),
            e.plan(sables, "email"),
            e.probe(lyon, "phone", {"PHO-ACC-01": True, "PHO-ACC-02": 4, "PHO-PRO-01": "none"}),
            e.probe(lyon, "email", {"EMA-INF-01": False, "EMA-PRO-01": True}, slot=2),
            e.probe(sables, "email", {"EMA-INF-01": True, "EMA-PRO-01": True}),
        ]
    )
    summary = edition_figures(
        YEAR, [line_of(structure_document(result)) for result in edition_results(facts)]
    )
    # Lyon: phone (1 + 2*0.5 + 0) / 4 = 50, email (0 + 1) / 4 = 25, global (50 + 25) / 2 = 37.5
    # Les Sables: email 100, global 100
    assert summary.categories[BIG].score == D("37.5")
    assert summary.categories["city_20k_50k"].score == D(100)
    # national (37.5 + 100) / 2 = 68.75; email (25 + 100) / 2 = 62.5; phone 50
    assert summary.national.score == D("68.75")
    assert summary.channels["email"].score == D("62.5")
    assert summary.channels["phone"].score == D(50)
    assert summary.certified.score == D("37.5")
    assert summary.not_certified.score == D(100)
    assert laureates(summary) == {(BIG, "Lyon"), ("city_20k_50k", "Les Sables")}
