"""The rules reporting applies to published results: means, strengths and improvement
areas, items to work on, French display, and which facts a document is made from."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from baro_reporting.facts import Publication, current_of, earlier_of, fold_registrations
from baro_reporting.figures import group_means, strengths_and_improvements, weakest_items
from baro_reporting.formatting import french_date, one_decimal, signed, whole
from reporting_builders import small_edition

pytestmark = pytest.mark.unit
D = Decimal


def test_french_display_has_one_decimal_a_comma_and_true_signs() -> None:
    assert one_decimal("64.5883517635779189483088156495932") == "64,6"
    assert one_decimal(D("0.05")) == "0,1"  # half up, as a reader rounds
    assert one_decimal(None) == "\u2013"
    assert signed(D("2.14")) == "+2,1"
    assert signed(D("-6.5")) == "\u22126,5"
    assert signed(D("0.01")) == "="
    assert whole(2025) == "2\u202f025"
    assert french_date(2023, 12, 4) == "4 décembre 2023"
    assert french_date(2024, 3, 1) == "1er mars 2024"


def test_a_category_mean_is_the_mean_of_its_structures_that_have_a_score() -> None:
    structures = [
        {"category": "a", "steps": {"access": {"score": "80"}, "processing": {"score": None}}},
        {"category": "a", "steps": {"access": {"score": "60"}}},
        {"category": "b", "steps": {"access": {"score": "10"}, "processing": {"score": "40"}}},
    ]
    by_category, national = group_means(structures, "steps")
    assert by_category == {"a": {"access": D(70)}, "b": {"access": D(10), "processing": D(40)}}
    assert national == {"access": D(50), "processing": D(40)}


def test_strengths_and_improvements_are_the_three_furthest_from_the_category_mean() -> None:
    scores = {f"D{n:02d}": D(50 + n) for n in range(1, 9)}
    means = dict.fromkeys(scores, D(54))
    means["D08"] = D(58)  # on the mean: neither
    means["D01"] = D(60)  # furthest below
    above, below = strengths_and_improvements(scores, means)
    assert [g.code for g in above] == ["D07", "D06", "D05"]
    assert [g.code for g in below] == ["D01", "D02", "D03"]
    # equal gaps in code order
    above, _ = strengths_and_improvements(
        {"D02": D(60), "D01": D(60), "D03": D(60), "D04": D(60)},
        dict.fromkeys(("D01", "D02", "D03", "D04"), D(50)),
    )
    assert [g.code for g in above] == ["D01", "D02", "D03"]


def test_items_to_work_on_are_the_lowest_scored_answered_at_least_twice() -> None:
    items = {
        "A-01": {"score": "0", "answers": 1},  # answered once: not enough to say
        "A-02": {"score": "10", "answers": 4},
        "A-03": {"score": "0", "answers": 2},
        "A-04": {"score": None, "answers": 0},
        "A-05": {"score": "10", "answers": 3},
        "A-06": {"score": "90", "answers": 3},
        "A-07": {"score": "50", "answers": 3},
        "A-08": {"score": "60", "answers": 3},
    }
    assert [code for code, _, _ in weakest_items(items)] == ["A-03", "A-02", "A-05", "A-07", "A-08"]


def _publication(edition: int, position: int) -> Publication:
    return Publication(
        edition,
        f"{position:064x}",
        "m",
        position,
        datetime(edition, 12, 1, tzinfo=UTC),
        "admin",
        {},
        {},
    )


def test_a_later_publication_supersedes_and_earlier_editions_are_those_received_before() -> None:
    received = [
        _publication(2025, 1),
        _publication(2026, 2),
        _publication(2027, 3),
        _publication(2026, 4),
        _publication(2024, 5),
    ]
    current = current_of(received, 2027)
    assert current is not None
    assert current.position == 3
    assert current_of(received, 2026).position == 4  # type: ignore[union-attr]
    # 2026's republication and 2024 arrived after 2027's publication: its documents do not
    # use them, so they read the same whenever they are made again.
    assert [(p.edition, p.position) for p in earlier_of(received, current)] == [
        (2025, 1),
        (2026, 2),
    ]
    assert current_of(received, 2030) is None


def test_registrations_are_folded_from_the_events_a_publication_includes() -> None:
    edition = small_edition()
    lyon = edition.structures[1]
    edition.site_added(lyon, "Mairie annexe du 8e")
    bodies = [
        (int(e.event_id.rpartition(":")[2]), e.model_dump_json())
        for e in edition.registration_events
    ]
    folded = fold_registrations(bodies)
    assert [s.name for s in folded[lyon.registration_id].sites] == [
        "Hôtel de ville",
        "Mairie annexe du 8e",
    ]
    again = fold_registrations([*bodies, bodies[-1]])  # a redelivered event changes nothing
    assert again == folded
    assert folded[lyon.registration_id].siret == lyon.registration.siret
