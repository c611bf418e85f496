"""The scoring rules (method `baro-scoring-1`): item scores, and a structure's item,
determinant, step, channel and global scores over all its probes. Pure: no I/O.

- An answer gives an item score in [0, 1]: yes/no → 1/0; a measure → the first threshold
  it does not exceed, else `otherwise`; a choice → its score; "n/a" → left out entirely.
- A group's score (item, determinant, step, channel) = 100 * Σ(weight * score) / Σ(weight)
  over the answered items of the group, across every probe (each as last corrected).
- The global score = the mean of the channel scores, over channels with an answered item.

All arithmetic goes through one pinned decimal context (34 digits; sums of weights and
scores stay exact), never the process's default one, so the same facts give the same digits
on any machine, live or replayed. Rounding is for display only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from baro_contracts.audit_v1 import NOT_APPLICABLE, ChoiceAnswer, Item, MeasureAnswer

METHOD = "baro-scoring-1"
"""The rules' name, pinned in every publication: a change to the rules is a new method."""

CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
HUNDRED = Decimal(100)
ONE = Decimal(1)
ZERO = Decimal(0)


def item_score(item: Item, value: Any) -> Decimal | None:
    """The item score of one answer; None for "n/a" or a value the item cannot score."""
    if value == NOT_APPLICABLE:
        return None
    answer = item.answer
    if isinstance(answer, MeasureAnswer):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        for threshold in answer.thresholds:
            if value <= threshold.up_to:
                return threshold.score
        return answer.otherwise
    if isinstance(answer, ChoiceAnswer):
        return answer.choices.get(value) if isinstance(value, str) else None
    if isinstance(value, bool):
        return ONE if value else ZERO
    return None


def mean(values: Iterable[Decimal]) -> Decimal | None:
    """The exact-context mean, or None for no values."""
    total = ZERO
    count = 0
    for value in values:
        total = CONTEXT.add(total, value)
        count += 1
    return CONTEXT.divide(total, Decimal(count)) if count else None


@dataclass
class Tally:
    """Σ(weight * score) and Σ(weight) of a group's answered items: exact decimals."""

    weighted: Decimal = ZERO
    weights: Decimal = ZERO
    answers: int = 0

    def add(self, weight: Decimal, score: Decimal) -> None:
        self.weighted = CONTEXT.add(self.weighted, CONTEXT.multiply(weight, score))
        self.weights = CONTEXT.add(self.weights, weight)
        self.answers += 1

    @property
    def score(self) -> Decimal:
        return CONTEXT.divide(CONTEXT.multiply(HUNDRED, self.weighted), self.weights)


@dataclass
class StructureScores:
    items: dict[str, Tally] = field(default_factory=dict)
    determinants: dict[str, Tally] = field(default_factory=dict)
    steps: dict[str, Tally] = field(default_factory=dict)
    channels: dict[str, Tally] = field(default_factory=dict)
    ignored_answers: int = 0
    """Answers to items the probe's referential does not have (audit-ingest refuses them)."""

    @property
    def global_score(self) -> Decimal | None:
        return mean(t.score for t in self.channels.values() if t.weights)

    def step_score(self, step: str) -> Decimal | None:
        tally = self.steps.get(step)
        return tally.score if tally is not None and tally.weights else None


def _tally(groups: dict[str, Tally], key: str) -> Tally:
    tally = groups.get(key)
    if tally is None:
        tally = groups[key] = Tally()
    return tally


def score_probes(
    probes: Iterable[tuple[Mapping[str, Item], Mapping[str, Any]]],
) -> StructureScores:
    """A structure's scores from its probes, each given as (its referential's items by code,
    its current answers)."""
    scores = StructureScores()
    for items, answers in probes:
        for code, value in answers.items():
            item = items.get(code)
            if item is None:
                scores.ignored_answers += 1
                continue
            score = item_score(item, value)
            if score is None:
                continue
            weight = item.weight
            _tally(scores.items, code).add(weight, score)
            _tally(scores.determinants, item.determinant).add(weight, score)
            _tally(scores.steps, item.step.value).add(weight, score)
            _tally(scores.channels, item.channel.value).add(weight, score)
    return scores
