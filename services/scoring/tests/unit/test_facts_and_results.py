"""An edition's facts built from contract events, and a structure's results from them:
hand-computed scores, corrections, duplicates, referential versions, profile, completeness."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from baro_contracts import registration_v1 as reg
from baro_contracts.base import ContractEvent
from baro_scoring.document import structure_document
from baro_scoring.facts import EditionFacts
from baro_scoring.results import StructureResult, edition_results, structure_result
from scoring_builders import HAND_ITEMS, YEAR, Events

pytestmark = pytest.mark.unit

D = Decimal


def facts_of(*events: ContractEvent, year: int = YEAR) -> EditionFacts:
    return EditionFacts(year).add_all(events)


def result_of(facts: EditionFacts, structure: reg.StructureRegistered) -> StructureResult:
    return structure_result(facts, facts.structures[structure.registration_id])


def scores_of(document: dict[str, Any], groups: str) -> dict[str, str]:
    return {key: group["score"] for key, group in document[groups].items()}


def republished(event: ContractEvent, later_by: int) -> Any:
    """The same fact sent again by its producer, `later_by` places further in its log."""
    producer, position = event.event_id.split(":")
    return event.model_copy(update={"event_id": f"{producer}:{int(position) + later_by}"})


# --- a structure scored by hand ---------------------------------------------------------


def test_a_structure_with_phone_and_email_probes_scored_by_hand() -> None:
    e = Events()
    town = e.structure()
    facts = facts_of(
        e.referential(),
        town,
        e.plan(town, "phone", "phone", "email"),
        e.probe(town, "phone", {"PHO-ACC-01": True, "PHO-ACC-02": 4, "PHO-PRO-01": "partial"}),
        e.probe(
            town, "phone", {"PHO-ACC-01": False, "PHO-ACC-02": 6, "PHO-PRO-01": "complete"}, slot=2
        ),
        e.probe(town, "email", {"EMA-INF-01": True, "EMA-PRO-01": False}, slot=3),
    )
    document = structure_document(result_of(facts, town))

    # items: PHO-ACC-01 (1 + 0)/2; PHO-ACC-02 (2*0.5 + 2*0)/4; PHO-PRO-01 (0.5 + 1)/2;
    # EMA-INF-01 3/3; EMA-PRO-01 0/1
    assert scores_of(document, "items") == {
        "PHO-ACC-01": "50",
        "PHO-ACC-02": "25",
        "PHO-PRO-01": "75",
        "EMA-INF-01": "100",
        "EMA-PRO-01": "0",
    }
    # D01: PHO-ACC-01 x2 (w1) + EMA-INF-01 (w3) = (1 + 0 + 3) / 5 = 80
    # D02: PHO-ACC-02 x2 (w2) = (1 + 0) / 4 = 25
    # D03: PHO-PRO-01 x2 + EMA-PRO-01 = (0.5 + 1 + 0) / 3 = 50
    assert scores_of(document, "determinants") == {"D01": "80", "D02": "25", "D03": "50"}
    # access: (1 + 1 + 0 + 0) / (1 + 2 + 1 + 2) = 2/6; information: 3/3;
    # processing: (0.5 + 1 + 0) / 3 = 50
    assert scores_of(document, "steps") == {
        "access": "33.33333333333333333333333333333333",
        "information": "100",
        "processing": "50",
    }
    # phone: (1 + 1 + 0.5 + 0 + 0 + 1) / (4 + 4) = 3.5/8 = 43.75; email: 3/4 = 75
    assert scores_of(document, "channels") == {"email": "75", "phone": "43.75"}
    assert document["channels"]["phone"]["weights"] == "8"
    assert document["channels"]["phone"]["answers"] == 6
    # global: (43.75 + 75) / 2 = 59.375
    assert document["global"] == "59.375"
    assert document["channel_probes"] == {"email": 1, "phone": 2}
    assert (document["planned"], document["probes"], document["complete"]) == (3, 3, True)


def test_edition_results_hold_every_structure_the_edition_knows() -> None:
    e = Events()
    first, second = e.structure("Lyon"), e.structure("Dax")
    facts = facts_of(e.referential(), first, second, e.probe(first, "website"))
    results = {r.registration_id: r for r in edition_results(facts)}
    assert set(results) == {first.registration_id, second.registration_id}
    assert results[first.registration_id].scores.global_score == D(100)
    assert results[second.registration_id].scores.global_score is None
    assert results[second.registration_id].probes == 0


# --- corrections ------------------------------------------------------------------------


def test_corrections_apply_in_revision_order_whatever_order_they_arrive_in() -> None:
    e = Events()
    town = e.structure()
    probe = e.probe(
        town,
        "phone",
        {"PHO-ACC-01": True, "PHO-ACC-02": 2, "PHO-PRO-01": "complete"},
        measures={"rings": 2, "answered_first_attempt": True},
    )
    # revision 3 is even written first in the log: only the revision number orders them.
    third = e.correction(probe, revision=3, answers={"PHO-ACC-02": 4}, measures={"rings": 4})
    second = e.correction(
        probe, revision=2, answers={"PHO-ACC-01": False, "PHO-ACC-02": 6}, measures={"rings": 6}
    )
    facts = facts_of(e.referential(), town, probe, second, third)

    ((_, answers, measures),) = facts.structures[town.registration_id].current_probes()
    # PHO-ACC-01 from revision 2, PHO-ACC-02 from revision 3, PHO-PRO-01 as recorded
    assert answers == {"PHO-ACC-01": False, "PHO-ACC-02": 4, "PHO-PRO-01": "complete"}
    assert measures["rings"] == 4
    assert measures["answered_first_attempt"] is True

    result = result_of(facts, town)
    # phone = 100 * (1*0 + 2*0.5 + 1*1) / 4 = 50 (revision 2 last would give 100 * 1/4 = 25)
    assert result.scores.channels["phone"].score == D(50)
    # KPIs follow the corrected measures too: 4 rings, first attempt untouched.
    assert result.kpis["phone_rings"] == [4, 1]
    assert result.kpis["phone_answered_first_attempt"] == [1, 1]

    reversed_facts = facts_of(third, second, probe, town, e.referential())
    assert structure_document(result_of(reversed_facts, town)) == structure_document(result)


def test_a_correction_changes_only_the_answers_it_names() -> None:
    e = Events()
    town = e.structure()
    probe = e.probe(town, "email", {"EMA-INF-01": False, "EMA-PRO-01": False})
    facts = facts_of(
        e.referential(), town, probe, e.correction(probe, answers={"EMA-PRO-01": True})
    )
    # EMA-INF-01 stays false: email = 100 * (3*0 + 1*1) / 4 = 25
    assert result_of(facts, town).scores.channels["email"].score == D(25)


def test_a_correction_to_not_applicable_takes_the_item_out() -> None:
    e = Events()
    town = e.structure()
    probe = e.probe(town, "email", {"EMA-INF-01": False, "EMA-PRO-01": True})
    facts = facts_of(
        e.referential(), town, probe, e.correction(probe, answers={"EMA-INF-01": "n/a"})
    )
    # email = 100 * 1 / 1 = 100 (it was 100 * 1/4 = 25)
    assert result_of(facts, town).scores.channels["email"].score == D(100)


# --- duplicates ---------------------------------------------------------------------------


def test_a_duplicated_event_changes_nothing() -> None:
    e = Events()
    town = e.structure()
    probe = e.probe(town, "phone", {"PHO-ACC-01": True, "PHO-ACC-02": 4, "PHO-PRO-01": "none"})
    correction = e.correction(probe, answers={"PHO-PRO-01": "partial"})
    granted = e.free_place_granted(town)
    events = [e.referential(), town, e.plan(town, "phone"), probe, correction, granted]
    once = structure_document(result_of(facts_of(*events), town))

    twice = structure_document(result_of(facts_of(*events, *reversed(events)), town))
    assert twice == once
    assert twice["probes"] == 1
    # phone = 100 * (1 + 2*0.5 + 0.5) / 4 = 62.5, the correction applied once
    assert twice["channels"]["phone"] == {"score": "62.5", "weights": "4", "answers": 3}


def test_the_same_probe_published_twice_counts_once() -> None:
    e = Events()
    town = e.structure()
    probe = e.probe(town, "email", {"EMA-INF-01": True, "EMA-PRO-01": False})
    facts = facts_of(e.referential(), town, e.plan(town, "email"), probe, republished(probe, 1000))
    result = result_of(facts, town)
    assert result.probes == 1
    assert result.channel_probes == {"email": 1}
    # 100 * 3/4 = 75 with 4 weights, not 8
    assert result.scores.channels["email"].score == D(75)
    assert result.scores.channels["email"].weights == D(4)


def test_when_one_fact_is_sent_twice_the_earliest_in_the_log_wins() -> None:
    e = Events()
    town = e.structure()
    probe = e.probe(town, "email", {"EMA-INF-01": True, "EMA-PRO-01": True})
    later = republished(probe, 1000).model_copy(
        update={"answers": {"EMA-INF-01": False, "EMA-PRO-01": False}}
    )
    correction = e.correction(probe, answers={"EMA-PRO-01": False})
    later_correction = republished(correction, 1000).model_copy(
        update={"answers": {"EMA-INF-01": False}}
    )
    # the later copies arrive first
    facts = facts_of(later_correction, later, e.referential(), town, probe, correction)
    # as recorded then corrected once: email = 100 * (3*1 + 1*0) / 4 = 75
    assert result_of(facts, town).scores.channels["email"].score == D(75)


# --- referential versions ---------------------------------------------------------------


def test_each_edition_scores_with_its_own_referential() -> None:
    answers = {"EMA-INF-01": True, "EMA-PRO-01": False}
    light = [
        item.model_copy(update={"weight": D(1)}) if item.code == "EMA-INF-01" else item
        for item in HAND_ITEMS
    ]
    old, new = Events(2026), Events(2027)
    old_town, new_town = old.structure(), new.structure()
    old_facts = facts_of(
        old.referential(1, light), old_town, old.probe(old_town, "email", answers), year=2026
    )
    new_facts = facts_of(
        new.referential(1), new_town, new.probe(new_town, "email", answers), year=2027
    )
    # 2026, EMA-INF-01 weighs 1: 100 * 1/2 = 50; 2027, it weighs 3: 100 * 3/4 = 75
    assert result_of(old_facts, old_town).scores.global_score == D(50)
    assert result_of(new_facts, new_town).scores.global_score == D(75)


def test_a_probe_is_scored_with_the_referential_version_it_was_recorded_against() -> None:
    e = Events()
    town = e.structure()
    heavy = [
        item.model_copy(update={"weight": D(9)}) if item.code == "EMA-PRO-01" else item
        for item in HAND_ITEMS
    ]
    facts = facts_of(
        e.referential(1),
        e.referential(2, heavy),
        town,
        e.probe(town, "email", {"EMA-INF-01": True, "EMA-PRO-01": False}, referential_version=1),
    )
    # version 1: 100 * 3 / (3 + 1) = 75 (version 2 would give 100 * 3 / 12 = 25)
    assert result_of(facts, town).scores.global_score == D(75)


def test_a_referential_sent_twice_scores_with_the_earliest_even_after_scoring_with_the_other() -> (
    None
):
    e = Events()
    town = e.structure()
    referential = e.referential(1)
    heavy = [
        item.model_copy(update={"weight": D(9)}) if item.code == "EMA-PRO-01" else item
        for item in HAND_ITEMS
    ]
    resent = republished(referential, 1000).model_copy(update={"items": heavy})
    facts = facts_of(town, e.probe(town, "email", {"EMA-INF-01": True, "EMA-PRO-01": False}))
    facts.add(resent)  # the later copy arrives first and is scored: 100 * 3 / 12 = 25
    assert result_of(facts, town).scores.global_score == D(25)

    facts.add(referential)  # the earlier one wins from then on: 100 * 3 / 4 = 75
    assert result_of(facts, town).scores.global_score == D(75)


def test_a_probe_arriving_before_its_referential_is_scored_once_the_referential_arrives() -> None:
    e = Events()
    town = e.structure()
    probe = e.probe(town, "email", {"EMA-INF-01": True, "EMA-PRO-01": False})
    facts = facts_of(town, probe)
    assert result_of(facts, town).scores.global_score is None

    facts.add(e.referential())
    assert result_of(facts, town).scores.global_score == D(75)  # 100 * 3/4
    assert result_of(facts, town).scores.ignored_answers == 0


# --- the structure's profile --------------------------------------------------------------


def test_a_free_place_granted_keeps_the_participation_free_and_puts_it_in_the_panel() -> None:
    e = Events()
    town = e.structure(participation=reg.Participation.FREE)
    facts = facts_of(town)
    profile = facts.structures[town.registration_id].profile
    assert profile is not None
    assert (profile.participation, profile.status) == ("free", "awaiting_free_place")

    facts.add(e.free_place_granted(town))
    profile = facts.structures[town.registration_id].profile
    assert profile is not None
    assert (profile.participation, profile.status) == ("free", "in_panel")


def test_a_free_participant_switched_to_paid_is_paid() -> None:
    e = Events()
    town = e.structure("Cernay", participation=reg.Participation.FREE, certified=True)
    granted, switched = e.free_place_granted(town), e.switched_to_paid(town)
    for order in ([town, granted, switched], [switched, granted, town]):
        profile = facts_of(*order).structures[town.registration_id].profile
        assert profile is not None
        assert profile.participation == "paid"
        assert profile.status == "in_panel"
        assert (profile.name, profile.category, profile.certified) == (
            "Cernay",
            "city_over_50k",
            True,
        )


def test_no_profile_before_the_registration_arrives() -> None:
    e = Events()
    town = e.structure()
    facts = facts_of(e.referential(), e.probe(town, "website"))
    document = structure_document(result_of(facts, town))
    assert document["category"] is None
    assert document["global"] == "100"


# --- completeness -------------------------------------------------------------------------


def test_a_structure_is_complete_when_every_planned_slot_has_a_probe() -> None:
    e = Events()
    town = e.structure()
    plan = e.plan(town, "phone", "email")
    facts = facts_of(e.referential(), town, plan, e.probe(town, "phone", slot=1))
    result = result_of(facts, town)
    assert (result.planned, result.probes, result.complete) == (2, 1, False)

    facts.add(e.probe(town, "email", slot=2))
    result = result_of(facts, town)
    assert (result.planned, result.probes, result.complete) == (2, 2, True)


def test_two_probes_on_the_same_slot_do_not_complete_a_plan_of_two() -> None:
    e = Events()
    town = e.structure()
    facts = facts_of(
        e.referential(),
        town,
        e.plan(town, "phone", "email"),
        e.probe(town, "phone", slot=1),
        e.probe(town, "phone", slot=1),
    )
    result = result_of(facts, town)
    assert result.probes == 2
    assert result.complete is False


def test_a_structure_without_a_plan_is_not_complete() -> None:
    e = Events()
    town = e.structure()
    facts = facts_of(e.referential(), town, e.probe(town, "website"))
    result = result_of(facts, town)
    assert result.planned is None
    assert result.complete is False


# --- scored as the facts come ----------------------------------------------------------


def test_a_structure_scored_as_its_facts_come_ends_with_the_scores_of_all_of_them() -> None:
    """The live projection rescores a structure from its facts at each batch: each result
    is that of the facts so far, and later ones do not change those made before."""

    e = Events()
    town = e.structure()
    referential = e.referential()
    phone = e.probe(town, "phone", {"PHO-ACC-01": True, "PHO-ACC-02": 4, "PHO-PRO-01": "none"})
    email = e.probe(town, "email", {"EMA-INF-01": False, "EMA-PRO-01": True}, slot=2)
    website = e.probe(town, "website", slot=3)
    again = e.probe(town, "phone", {"PHO-ACC-01": False, "PHO-ACC-02": 2, "PHO-PRO-01": "n/a"})
    heavier = [
        item.model_copy(update={"weight": D(7)}) if item.code == "EMA-INF-01" else item
        for item in HAND_ITEMS
    ]
    steps: list[list[ContractEvent]] = [
        [referential, town, e.plan(town, "phone", "email", "website", "phone"), phone],
        [email],
        [again.model_copy(update={"slot": 4})],
        [e.correction(email, answers={"EMA-INF-01": True})],
        [website],
        [republished(referential, 1000).model_copy(update={"items": heavier})],  # earlier wins
        [e.correction(phone, answers={"PHO-ACC-02": 9})],
    ]
    seen: list[ContractEvent] = []
    made: list[tuple[StructureResult, EditionFacts]] = []
    for step in steps:
        seen += step
        facts = facts_of(*seen)
        made.append((result_of(facts, town), facts))
    for result, facts in made:
        assert structure_document(result) == structure_document(result_of(facts, town))
    remembered = made[-1][0]
    # phone: (1 + 2*0 + 0) + (0 + 2*1) over 4 + 3 = 3/7; email (3 + 1)/4 = 100; website 100
    # → (42.85714285714285714285714285714286 + 200) / 3, phone rounded to 34 digits first
    assert structure_document(remembered)["global"] == "80.95238095238095238095238095238097"
