"""The scoring rules of domain.md ("Scoring"): item scores, weights, group scores over
several probes, the global score as the mean of the channel scores, full precision."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from baro_contracts.audit_v1 import Item
from baro_scoring.rules import Referential, item_score, score_structure
from scoring_builders import HAND_ITEMS

pytestmark = pytest.mark.unit

D = Decimal
ITEMS: dict[str, Item] = {item.code: item for item in HAND_ITEMS}
REFERENTIAL = Referential(HAND_ITEMS)


def scores(*probes: dict[str, Any]) -> Any:
    """A structure's scores from probes answered against the hand-made referential."""
    return score_structure((REFERENTIAL, answers) for answers in probes)


def score_of(groups: dict[str, Any], key: str) -> Decimal:
    return Decimal(groups[key].score)


# --- item scores ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(True, D(1)), (False, D(0))])
def test_a_yes_no_item_scores_1_for_yes_and_0_for_no(value: bool, expected: Decimal) -> None:
    assert item_score(ITEMS["PHO-ACC-01"], value) == expected


@pytest.mark.parametrize(
    ("rings", "expected"),
    [
        (0, D(1)),
        (3, D(1)),  # the bound is inclusive: 3 rings is still "<= 3"
        (3.0, D(1)),
        (3.5, D("0.5")),
        (4, D("0.5")),
        (5, D("0.5")),  # inclusive again: "<= 5"
        (5.01, D(0)),
        (6, D(0)),
        (100, D(0)),
    ],
)
def test_a_measure_scores_by_the_first_threshold_it_does_not_exceed(
    rings: float, expected: Decimal
) -> None:
    # domain.md: rings <= 3 -> 1, <= 5 -> 0.5, else 0.
    assert item_score(ITEMS["PHO-ACC-02"], rings) == expected


def test_a_measure_above_every_threshold_scores_the_items_otherwise_score() -> None:
    generous = ITEMS["PHO-ACC-02"].model_copy(
        update={"answer": ITEMS["PHO-ACC-02"].answer.model_copy(update={"otherwise": D("0.25")})}
    )
    assert item_score(generous, 6) == D("0.25")
    assert item_score(generous, 5) == D("0.5")


@pytest.mark.parametrize(
    ("choice", "expected"), [("complete", D(1)), ("partial", D("0.5")), ("none", D(0))]
)
def test_a_choice_scores_the_score_of_the_chosen_value(choice: str, expected: Decimal) -> None:
    assert item_score(ITEMS["PHO-PRO-01"], choice) == expected


@pytest.mark.parametrize("code", ["PHO-ACC-01", "PHO-ACC-02", "PHO-PRO-01"])
def test_not_applicable_gives_no_item_score(code: str) -> None:
    assert item_score(ITEMS[code], "n/a") is None


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("PHO-ACC-01", 1),  # a number is not a yes/no
        ("PHO-ACC-01", "yes"),
        ("PHO-ACC-02", True),  # a boolean is not a number of rings
        ("PHO-ACC-02", "3"),
        ("PHO-PRO-01", 1),  # a number is not one of the choices
        ("PHO-PRO-01", "excellent"),  # nor is a value the item does not list
    ],
)
def test_a_value_of_the_wrong_type_is_not_scored(code: str, value: Any) -> None:
    assert item_score(ITEMS[code], value) is None


# --- not applicable and wrong values in group scores ---------------------------------------


def test_not_applicable_is_left_out_of_numerator_and_denominator() -> None:
    result = scores({"PHO-ACC-01": True, "PHO-ACC-02": "n/a", "PHO-PRO-01": "none"})
    # phone = 100 * (1*1 + 1*0) / (1 + 1) = 50; counting n/a as 0 of weight 2 would give 25.
    assert score_of(result.channels, "phone") == D(50)
    assert result.channels["phone"].weights == D(2)
    assert "PHO-ACC-02" not in result.items
    # D02 only has the n/a item: no determinant score at all, not a 0.
    assert "D02" not in result.determinants


def test_a_value_of_the_wrong_type_does_not_count_as_a_zero() -> None:
    result = scores({"PHO-ACC-01": True, "PHO-ACC-02": "three", "PHO-PRO-01": "none"})
    # same as n/a: 100 * 1 / 2 = 50, not 100 * 1 / 4 = 25.
    assert score_of(result.channels, "phone") == D(50)
    assert "PHO-ACC-02" not in result.items


# --- weights ----------------------------------------------------------------------------


def test_item_weights_weigh_the_group_scores() -> None:
    result = scores({"EMA-INF-01": True, "EMA-PRO-01": False})
    # email = 100 * (3*1 + 1*0) / (3 + 1) = 75 (unweighted it would be 50).
    assert score_of(result.channels, "email") == D(75)
    assert result.channels["email"].weights == D(4)


def test_a_weighted_measure_with_a_half_score() -> None:
    result = scores({"PHO-ACC-01": False, "PHO-ACC-02": 4})
    # access = 100 * (1*0 + 2*0.5) / (1 + 2) = 100/3
    assert score_of(result.steps, "access") == D("33.33333333333333333333333333333333")


# --- group scores across probes -----------------------------------------------------------


def test_item_determinant_step_and_channel_scores_over_several_probes() -> None:
    result = scores(
        {"PHO-ACC-01": True, "PHO-ACC-02": 4, "PHO-PRO-01": "partial"},
        {"PHO-ACC-01": False, "PHO-ACC-02": 6, "PHO-PRO-01": "complete"},
        {"EMA-INF-01": False, "EMA-PRO-01": True},
    )
    # items: PHO-ACC-01 = 100 * (1 + 0) / 2 = 50; PHO-ACC-02 = 100 * (2*0.5 + 2*0) / 4 = 25;
    # PHO-PRO-01 = 100 * (0.5 + 1) / 2 = 75; EMA-INF-01 = 0; EMA-PRO-01 = 100.
    assert {code: score_of(result.items, code) for code in result.items} == {
        "PHO-ACC-01": D(50),
        "PHO-ACC-02": D(25),
        "PHO-PRO-01": D(75),
        "EMA-INF-01": D(0),
        "EMA-PRO-01": D(100),
    }
    assert result.items["PHO-ACC-02"].answers == 2
    # D01 = PHO-ACC-01 x2 (w1) + EMA-INF-01 (w3) = 100 * (1 + 0 + 0) / 5 = 20
    # D02 = PHO-ACC-02 x2 = 25
    # D03 = PHO-PRO-01 x2 + EMA-PRO-01 = 100 * (0.5 + 1 + 1) / 3 = 250/3
    assert score_of(result.determinants, "D01") == D(20)
    assert score_of(result.determinants, "D02") == D(25)
    assert score_of(result.determinants, "D03") == D("83.33333333333333333333333333333333")
    # access = 100 * (1 + 1 + 0 + 0) / (1 + 2 + 1 + 2) = 200/6; information = 0;
    # processing = 100 * (0.5 + 1 + 1) / 3 = 250/3
    assert score_of(result.steps, "access") == D("33.33333333333333333333333333333333")
    assert score_of(result.steps, "information") == D(0)
    assert score_of(result.steps, "processing") == D("83.33333333333333333333333333333333")
    # phone = 100 * (1 + 1 + 0.5 + 0 + 0 + 1) / (4 + 4) = 350/8 = 43.75; email = 100 * 1/4 = 25
    assert score_of(result.channels, "phone") == D("43.75")
    assert score_of(result.channels, "email") == D(25)
    assert result.channels["phone"].answers == 6


# --- the global score ---------------------------------------------------------------------


def test_the_global_score_is_the_mean_of_the_channel_scores() -> None:
    result = scores(
        {"PHO-ACC-01": False, "PHO-ACC-02": 6, "PHO-PRO-01": "complete"},
        {"WEB-ACC-01": True},
    )
    # phone = 100 * 1/4 = 25, website = 100; global = (25 + 100) / 2 = 62.5
    # (pooling every item instead would give 100 * 2/5 = 40).
    assert result.global_score == D("62.5")


def test_a_channel_whose_items_are_all_not_applicable_does_not_count_in_the_global() -> None:
    result = scores(
        {"PHO-ACC-01": False, "PHO-ACC-02": 6, "PHO-PRO-01": "complete"},
        {"WEB-ACC-01": True},
        {"EMA-INF-01": "n/a", "EMA-PRO-01": "n/a"},
    )
    # still (25 + 100) / 2 = 62.5: email is not a third channel scoring 0.
    assert "email" not in result.channels
    assert result.global_score == D("62.5")


def test_a_channel_scoring_zero_does_count_in_the_global() -> None:
    result = scores({"WEB-ACC-01": True}, {"EMA-INF-01": False, "EMA-PRO-01": False})
    # (100 + 0) / 2 = 50
    assert result.global_score == D(50)


def test_no_answered_item_means_no_global_score() -> None:
    assert scores({"EMA-INF-01": "n/a"}).global_score is None
    assert scores().global_score is None


# --- precision ----------------------------------------------------------------------------


def test_scores_keep_full_precision() -> None:
    result = scores({"PHO-ACC-01": False, "PHO-ACC-02": 2})
    # phone = 100 * (1*0 + 2*1) / 3 = 200/3, to 34 significant digits
    phone = score_of(result.channels, "phone")
    assert phone == D("66.66666666666666666666666666666667")
    assert len(phone.as_tuple().digits) == 34


def test_the_global_score_keeps_full_precision_too() -> None:
    result = scores({"PHO-ACC-01": False, "PHO-ACC-02": 2}, {"WEB-ACC-01": True})
    # global = (200/3 + 100) / 2 = 250/3 = 83.333...; the channel scores have 34 significant
    # digits, so must their mean: it may only differ from 250/3 in its last digit.
    global_score = result.global_score
    assert global_score is not None
    assert abs(global_score - D("83.333333333333333333333333333333333333")) < D("1e-30")
    assert len(global_score.as_tuple().digits) == 34


# --- answers the referential does not know -----------------------------------------------


def test_answers_to_unknown_items_are_counted_and_not_scored() -> None:
    result = scores(
        {"PHO-ACC-01": True, "PHO-XXX-99": False},
        {"EMA-INF-01": False, "ZZZ-ZZZ-01": True},
    )
    assert result.ignored_answers == 2
    # only the known answers count: phone = 100, email = 0.
    assert score_of(result.channels, "phone") == D(100)
    assert result.channels["phone"].answers == 1
    assert score_of(result.channels, "email") == D(0)
    assert set(result.items) == {"PHO-ACC-01", "EMA-INF-01"}


def test_an_answer_scored_with_a_referential_that_lacks_the_item_is_ignored() -> None:
    without_website = {code: item for code, item in ITEMS.items() if code != "WEB-ACC-01"}
    result = score_structure(
        [(Referential(without_website.values()), {"WEB-ACC-01": True, "PHO-ACC-01": False})]
    )
    assert result.ignored_answers == 1
    assert "website" not in result.channels
    assert result.global_score == D(0)
