"""The shipped referential, and the checks of a referential document and of a probe's answers."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from audit_builders import answers_for
from baro_audit_ingest.referential import (
    Problem,
    ReferentialDocument,
    default_referential,
    measure_problems,
)
from baro_contracts.audit_v1 import (
    NOT_APPLICABLE,
    Channel,
    Determinant,
    Family,
    Item,
    MeasureAnswer,
    Measures,
    Step,
    Threshold,
)

pytestmark = pytest.mark.unit

DEFAULT = default_referential()


def item(code: str) -> Item:
    return DEFAULT.by_code[code]


def with_items(*items: Item, determinants: tuple[Determinant, ...] | None = None) -> Any:
    return dataclasses.replace(
        DEFAULT,
        items=items,
        determinants=DEFAULT.determinants if determinants is None else determinants,
    )


def naming(problems: list[Problem], *fragments: str) -> list[Problem]:
    """The problems whose field or reason mentions every fragment."""
    return [p for p in problems if all(f in p[0] + " " + p[1] for f in fragments)]


# --- the shipped referential --------------------------------------------------------------


def test_the_shipped_referential_has_no_problem() -> None:
    assert DEFAULT.problems() == []


def test_it_has_20_determinants_in_the_8_public_families() -> None:
    codes = [d.code for d in DEFAULT.determinants]
    assert len(codes) == len(set(codes)) == 20
    assert {d.family for d in DEFAULT.determinants} == set(Family)


def test_it_has_at_least_120_items_with_unique_codes() -> None:
    codes = [i.code for i in DEFAULT.items]
    assert len(codes) >= 120
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("step", list(Step))
def test_every_channel_and_step_has_items(channel: Channel, step: Step) -> None:
    assert any(i.channel is channel and i.step is step for i in DEFAULT.items)


# The measures domain.md lists, per channel (the social network is who answered, not a quality).
DOMAIN_MEASURES = [
    (Channel.PHONE, "answered_first_attempt"),
    (Channel.PHONE, "rings"),
    (Channel.PHONE, "waiting_seconds"),
    (Channel.PHONE, "polite_formula"),
    (Channel.EMAIL, "answered"),
    (Channel.EMAIL, "reply_delay_hours"),
    (Channel.EMAIL, "polite_formula"),
    (Channel.MAIL, "answered"),
    (Channel.MAIL, "reply_delay_days"),
    (Channel.MAIL, "polite_formula"),
    (Channel.SOCIAL, "answered"),
    (Channel.SOCIAL, "reply_delay_hours"),
    (Channel.SOCIAL, "polite_formula"),
    (Channel.WEBSITE, "rgaa_compliant"),
    (Channel.WEBSITE, "satisfaction_synthesis_published"),
    (Channel.WEBSITE, "navigation_help"),
    (Channel.WEBSITE, "online_procedures"),
]


@pytest.mark.parametrize(("channel", "measure"), DOMAIN_MEASURES)
def test_every_measure_of_the_domain_is_scored_by_an_item(channel: Channel, measure: str) -> None:
    linked = [i for i in DEFAULT.items_by_channel[channel] if i.measure == measure]
    assert len(linked) == 1, f"{channel.value} {measure}: {[i.code for i in linked]}"


def thresholds_of(channel: Channel, measure: str) -> list[tuple[Any, Decimal]]:
    (scored,) = [i for i in DEFAULT.items_by_channel[channel] if i.measure == measure]
    assert isinstance(scored.answer, MeasureAnswer)
    return [(t.up_to, t.score) for t in scored.answer.thresholds]


def test_the_rings_item_scores_as_the_scoring_rules_say() -> None:
    # domain.md: rings <= 3 -> 1, <= 5 -> 0.5, else 0.
    assert thresholds_of(Channel.PHONE, "rings") == [(3, Decimal(1)), (5, Decimal("0.5"))]


def test_the_email_delay_bands_are_24_hours_5_days_and_10_days() -> None:
    assert [up_to for up_to, _ in thresholds_of(Channel.EMAIL, "reply_delay_hours")] == [
        24,
        120,
        240,
    ]


def test_a_mail_answered_within_15_days_scores_full() -> None:
    assert thresholds_of(Channel.MAIL, "reply_delay_days")[0] == (15, Decimal(1))


# --- problems() ---------------------------------------------------------------------------


def test_a_duplicate_item_code_is_reported() -> None:
    duplicate = item("PHO-ACC-01")
    problems = with_items(*DEFAULT.items, duplicate).problems()
    assert naming(problems, "PHO-ACC-01", "2 times")


def test_a_duplicate_determinant_is_reported() -> None:
    problems = with_items(
        *DEFAULT.items, determinants=(*DEFAULT.determinants, DEFAULT.determinants[0])
    ).problems()
    assert naming(problems, "D01", "2 times")


def test_an_item_of_an_unknown_determinant_is_reported() -> None:
    stray = item("PHO-ACC-01").model_copy(update={"determinant": "D99"})
    items = tuple(stray if i.code == "PHO-ACC-01" else i for i in DEFAULT.items)
    index = [i.code for i in items].index("PHO-ACC-01")
    problems = with_items(*items).problems()
    found = naming(problems, "PHO-ACC-01", "unknown determinant D99")
    assert [field for field, _ in found] == [f"items.{index}.determinant"]


def test_decreasing_thresholds_are_reported() -> None:
    rings = item("PHO-ACC-02")
    assert isinstance(rings.answer, MeasureAnswer)
    backwards = rings.answer.model_copy(
        update={
            "thresholds": [
                Threshold(up_to=5, score=Decimal("0.5")),
                Threshold(up_to=3, score=Decimal(1)),
            ]
        }
    )
    broken = rings.model_copy(update={"answer": backwards})
    items = tuple(broken if i.code == rings.code else i for i in DEFAULT.items)
    problems = with_items(*items).problems()
    assert naming(problems, "PHO-ACC-02", "increasing order")


def test_a_determinant_without_any_item_is_reported() -> None:
    moved = tuple(
        i.model_copy(update={"determinant": "D06"}) if i.determinant == "D07" else i
        for i in DEFAULT.items
    )
    problems = with_items(*moved).problems()
    assert problems == [("determinants", "determinant D07 has no item")]


def test_a_channel_without_any_item_is_reported() -> None:
    problems = with_items(*(i for i in DEFAULT.items if i.channel is not Channel.MAIL)).problems()
    assert naming(problems, "mail channel")


def test_a_referential_round_trips_through_its_json() -> None:
    again = ReferentialDocument.from_json(DEFAULT.to_json())
    assert again.items == DEFAULT.items
    assert again.determinants == DEFAULT.determinants


# --- answer_problems() --------------------------------------------------------------------


def phone_answers(**changes: Any) -> dict[str, Any]:
    return {**answers_for(Channel.PHONE), **changes}


def phone_problems(answers: dict[str, Any]) -> list[Problem]:
    return DEFAULT.answer_problems(Channel.PHONE, answers)


@pytest.mark.parametrize("channel", list(Channel))
def test_a_full_set_of_valid_answers_has_no_problem(channel: Channel) -> None:
    assert DEFAULT.answer_problems(channel, answers_for(channel)) == []


@pytest.mark.parametrize("channel", list(Channel))
def test_not_applicable_is_accepted_for_every_kind_of_item(channel: Channel) -> None:
    answers = dict.fromkeys(answers_for(channel), NOT_APPLICABLE)
    assert DEFAULT.answer_problems(channel, answers) == []


def test_an_unknown_item_code_is_reported() -> None:
    problems = phone_problems(phone_answers(**{"PHO-ZZZ-99": True}))
    assert [p[0] for p in problems] == ["answers.PHO-ZZZ-99"]
    assert "unknown item code" in problems[0][1]


def test_an_item_of_another_channel_is_reported() -> None:
    problems = phone_problems(phone_answers(**{"EML-ACC-01": True}))
    assert [p[0] for p in problems] == ["answers.EML-ACC-01"]
    assert "email" in problems[0][1]


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("PHO-ACC-01", "yes"),  # a string to a yes/no item
        ("PHO-ACC-01", 1),  # a number to a yes/no item
        ("PHO-ACC-02", True),  # a bool is not a number of rings
        ("PHO-ACC-02", "3"),  # nor is a string
        ("PHO-PRO-03", True),  # a bool is not a choice
    ],
)
def test_a_value_of_the_wrong_type_is_reported(code: str, value: Any) -> None:
    problems = phone_problems(phone_answers(**{code: value}))
    assert [p[0] for p in problems] == [f"answers.{code}"]


@pytest.mark.parametrize("value", [-1, 31, 30.5])
def test_a_measure_out_of_its_range_is_reported(value: Any) -> None:
    problems = phone_problems(phone_answers(**{"PHO-ACC-02": value}))
    assert [p[0] for p in problems] == ["answers.PHO-ACC-02"]
    assert "out of range" in problems[0][1]


@pytest.mark.parametrize("value", [0, 30, 4.5])
def test_a_measure_within_its_range_is_accepted(value: Any) -> None:
    assert phone_problems(phone_answers(**{"PHO-ACC-02": value})) == []


def test_an_unknown_choice_is_reported() -> None:
    problems = phone_problems(phone_answers(**{"PHO-PRO-03": "excellent"}))
    assert [p[0] for p in problems] == ["answers.PHO-PRO-03"]
    assert "complete" in problems[0][1]


def test_missing_items_are_reported_by_code() -> None:
    answers = phone_answers()
    del answers["PHO-INF-03"], answers["PHO-PRO-10"]
    problems = phone_problems(answers)
    assert len(problems) == 1
    field, reason = problems[0]
    assert field == "answers"
    assert "PHO-INF-03" in reason
    assert "PHO-PRO-10" in reason


def test_every_problem_of_a_probe_is_reported_at_once() -> None:
    answers = phone_answers(**{"PHO-ZZZ-99": True, "PHO-ACC-01": "yes"})
    del answers["PHO-INF-03"]
    fields = {p[0] for p in phone_problems(answers)}
    assert fields == {"answers.PHO-ZZZ-99", "answers.PHO-ACC-01", "answers"}


# --- measure_problems() -------------------------------------------------------------------


def test_complete_measures_have_no_problem() -> None:
    measures = Measures(answered_first_attempt=True, rings=2, waiting_seconds=10)
    assert measure_problems(Channel.PHONE, measures) == []
    assert measure_problems(Channel.EMAIL, Measures(answered=False)) == []


def test_a_missing_required_measure_is_reported() -> None:
    problems = measure_problems(Channel.PHONE, Measures(rings=2))
    assert [p[0] for p in problems] == ["measures.answered_first_attempt"]
    social = measure_problems(Channel.SOCIAL, Measures(answered=False))
    assert [p[0] for p in social] == ["measures.network"]


def test_a_measure_of_another_channel_is_reported() -> None:
    problems = measure_problems(
        Channel.PHONE, Measures(answered_first_attempt=True, reply_delay_days=3)
    )
    assert [p[0] for p in problems] == ["measures.reply_delay_days"]
    assert "phone" in problems[0][1]


def test_a_reply_delay_without_a_reply_is_reported() -> None:
    problems = measure_problems(Channel.EMAIL, Measures(answered=False, reply_delay_hours=5))
    assert [p[0] for p in problems] == ["measures.reply_delay_hours"]
    assert "answered is false" in problems[0][1]


def test_a_reply_without_its_delay_is_reported() -> None:
    problems = measure_problems(Channel.MAIL, Measures(answered=True))
    assert [p[0] for p in problems] == ["measures.reply_delay_days"]
