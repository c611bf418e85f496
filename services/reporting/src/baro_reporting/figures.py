"""Figures reporting derives from published results, by rules written here once.

- A category's (or the nation's) step or determinant mean is the mean of the scores of its
  structures that have one, as domain.md defines a category's score from global scores.
- Strengths: the three determinants furthest above the structure's category mean;
  improvement areas: the three furthest below (only determinants with a score on both
  sides; equal gaps in code order). The items to work on first: the five lowest-scored
  items among those answered at least twice (equal scores in code order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

TOP = 3
WEAKEST_ITEMS = 5
MIN_ITEM_ANSWERS = 2
# Fixed here, not taken from the thread's context: the same figures in every process.
CONTEXT = Context(prec=34)


def mean(values: Iterable[Decimal]) -> Decimal | None:
    numbers = list(values)
    if not numbers:
        return None
    total = Decimal(0)
    for number in numbers:
        total = CONTEXT.add(total, number)
    return CONTEXT.divide(total, Decimal(len(numbers)))


def group_means(
    structures: Iterable[Mapping[str, Any]], group: str
) -> tuple[dict[str, dict[str, Decimal]], dict[str, Decimal]]:
    """Per category, then nationally: code → mean of the structures' `group` scores
    (`group` is "steps" or "determinants")."""
    by_category: dict[str, dict[str, list[Decimal]]] = {}
    national: dict[str, list[Decimal]] = {}
    for structure in structures:
        for code, score in (structure.get(group) or {}).items():
            if score.get("score") is None:
                continue
            value = Decimal(score["score"])
            by_category.setdefault(structure["category"], {}).setdefault(code, []).append(value)
            national.setdefault(code, []).append(value)
    return (
        {
            category: {code: m for code, vs in codes.items() if (m := mean(vs)) is not None}
            for category, codes in by_category.items()
        },
        {code: m for code, vs in national.items() if (m := mean(vs)) is not None},
    )


@dataclass(frozen=True)
class Gap:
    code: str
    score: Decimal
    reference: Decimal

    @property
    def gap(self) -> Decimal:
        return self.score - self.reference


def strengths_and_improvements(
    scores: Mapping[str, Decimal], category_means: Mapping[str, Decimal]
) -> tuple[list[Gap], list[Gap]]:
    gaps = [
        Gap(code, score, category_means[code])
        for code, score in sorted(scores.items())
        if code in category_means
    ]
    above = sorted((g for g in gaps if g.gap > 0), key=lambda g: (-g.gap, g.code))[:TOP]
    below = sorted((g for g in gaps if g.gap < 0), key=lambda g: (g.gap, g.code))[:TOP]
    return above, below


def weakest_items(items: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Decimal, int]]:
    """(code, score, answers) of the items to work on first."""
    scored = [
        (code, Decimal(item["score"]), int(item["answers"]))
        for code, item in items.items()
        if item.get("score") is not None and int(item["answers"]) >= MIN_ITEM_ANSWERS
    ]
    return sorted(scored, key=lambda entry: (entry[1], entry[0]))[:WEAKEST_ITEMS]


def kpi_value(kind: str, numerator: int, denominator: int) -> Decimal | None:
    """A structure's KPI from its [numerator, denominator], as scoring computes the nation's."""
    if not denominator:
        return None
    scale = Decimal(100) if kind == "percent" else Decimal(1)
    return CONTEXT.divide(CONTEXT.multiply(scale, Decimal(numerator)), Decimal(denominator))
