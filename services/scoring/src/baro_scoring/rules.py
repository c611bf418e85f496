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

import functools
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
    """Σ(weight * score) and Σ(weight) of a group's answered items, exactly: whole numbers
    of 10^-scale."""

    units_weighted: int = 0
    units_weights: int = 0
    answers: int = 0
    scale: int = 0

    @property
    def weighted(self) -> Decimal:
        return CONTEXT.scaleb(Decimal(self.units_weighted), -self.scale)

    @property
    def weights(self) -> Decimal:
        return CONTEXT.scaleb(Decimal(self.units_weights), -self.scale)

    @property
    def score(self) -> Decimal:
        return score_of(self.units_weighted, self.units_weights)


@functools.lru_cache(maxsize=65536)
def score_of(units_weighted: int, units_weights: int) -> Decimal:
    """100 * Σ(w*s) / Σ(w): the scale cancels out. Structures share most of their sums."""
    return CONTEXT.divide(
        CONTEXT.multiply(HUNDRED, Decimal(units_weighted)), Decimal(units_weights)
    )


Sums = dict[str, list[Any]]
"""Item code -> [Σ w*s, Σ w, answers, its (determinant, step, channel) keys], in units of
10^-scale."""
GroupSums = dict[tuple[str, str], list[int]]
"""("determinants" | "steps" | "channels", key) -> [Σ w*s, Σ w, answers], likewise."""


@dataclass
class StructureScores:
    """A structure's sums; the tallies of each kind are made when first asked for."""

    sums: Sums = field(default_factory=dict)
    group_sums: GroupSums = field(default_factory=dict)
    scale: int = 0
    ignored_answers: int = 0
    """Answers to items the probe's referential does not have (audit-ingest refuses them)."""

    @functools.cached_property
    def items(self) -> dict[str, Tally]:
        return {
            code: Tally(weighted, weights, answered, self.scale)
            for code, (weighted, weights, answered, _) in sorted(self.sums.items())
        }

    def _kind(self, kind: str) -> dict[str, Tally]:
        return {
            key: Tally(weighted, weights, answered, self.scale)
            for (of, key), (weighted, weights, answered) in sorted(self.group_sums.items())
            if of == kind
        }

    @functools.cached_property
    def determinants(self) -> dict[str, Tally]:
        return self._kind("determinants")

    @functools.cached_property
    def steps(self) -> dict[str, Tally]:
        return self._kind("steps")

    @functools.cached_property
    def channels(self) -> dict[str, Tally]:
        return self._kind("channels")

    @property
    def global_score(self) -> Decimal | None:
        return mean(t.score for t in self.channels.values() if t.units_weights)

    def step_score(self, step: str) -> Decimal | None:
        tally = self.steps.get(step)
        return tally.score if tally is not None and tally.units_weights else None


_NOT_SCORED = object()
_UNKNOWN = object()


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _scale(items: Mapping[str, Item]) -> int:
    """Decimal places that make every weight x score of these items a whole number."""
    places = 0
    for item in items.values():
        answer = item.answer
        if isinstance(answer, MeasureAnswer):
            scores = [t.score for t in answer.thresholds] + [answer.otherwise]
        elif isinstance(answer, ChoiceAnswer):
            scores = list(answer.choices.values())
        else:
            scores = [ONE]
        places = max(places, _places(item.weight) + max(_places(s) for s in scores))
    return places


class Scorer:
    """A referential's items, remembering each distinct answer's (weight x score, weight) as
    whole numbers of 10^-scale: a campaign repeats the same few answers thousands of times,
    and integer sums are exact and fast."""

    def __init__(self, items: Mapping[str, Item]) -> None:
        self.items = items
        self.scale = _scale(items)
        self.memo: dict[tuple[str, type, Any], Any] = {}
        self.groups = {
            code: (
                ("determinants", item.determinant),
                ("steps", item.step.value),
                ("channels", item.channel.value),
            )
            for code, item in items.items()
        }

    def weighted(self, code: str, value: Any) -> Any:
        """(weight x score, weight) in units of 10^-scale; _NOT_SCORED ("n/a", or a value the
        item cannot score); _UNKNOWN for an item the referential does not have."""
        item = self.items.get(code)
        if item is None:
            known: Any = _UNKNOWN
        else:
            score = item_score(item, value)
            if score is None:
                known = _NOT_SCORED
            else:
                unit = Decimal(10**self.scale)
                weighted = CONTEXT.multiply(CONTEXT.multiply(item.weight, score), unit)
                known = (int(weighted), int(CONTEXT.multiply(item.weight, unit)))
        self.memo[(code, value.__class__, value)] = known  # True == 1: the type keeps them apart
        return known


def add_answers(
    sums: Sums,
    group_sums: GroupSums | None,
    scorer: Scorer,
    answers: Mapping[str, Any],
    scale: int,
) -> int:
    """Add one probe's answers to the item sums, and to the group sums when given (kept in
    units of 10^-scale, scale >= the scorer's); returns how many answers were to items the
    referential does not have. Each item belongs to one determinant, step and channel: its
    answer adds to them."""
    memo = scorer.memo
    factor = 10 ** (scale - scorer.scale)
    ignored = 0
    for code, value in answers.items():
        known = memo.get((code, value.__class__, value))
        if known is None:
            known = scorer.weighted(code, value)
        if known is _NOT_SCORED:
            continue
        if known is _UNKNOWN:
            ignored += 1
            continue
        weighted = known[0] * factor
        weights = known[1] * factor
        tally = sums.get(code)
        if tally is None:
            tally = sums[code] = [0, 0, 0, scorer.groups[code]]
        tally[0] += weighted
        tally[1] += weights
        tally[2] += 1
        if group_sums is None:
            continue
        for group_key in tally[3]:
            group = group_sums.get(group_key)
            if group is None:
                group_sums[group_key] = [weighted, weights, 1]
            else:
                group[0] += weighted
                group[1] += weights
                group[2] += 1
    return ignored


def group_sums_of(sums: Sums) -> GroupSums:
    """The group sums of these item sums (cheaper than adding every answer to its groups
    when all of a structure's probes are scored at once)."""
    group_sums: GroupSums = {}
    for weighted, weights, answered, item_groups in sums.values():
        for group_key in item_groups:
            group = group_sums.get(group_key)
            if group is None:
                group_sums[group_key] = [weighted, weights, answered]
            else:
                group[0] += weighted
                group[1] += weights
                group[2] += answered
    return group_sums


def score_probes(
    probes: Iterable[tuple[Scorer | Mapping[str, Item], Mapping[str, Any]]],
) -> StructureScores:
    """A structure's scores from its probes, each given as (its referential's items, as a
    Scorer or by code, and its current answers)."""
    scored = [(s if isinstance(s, Scorer) else Scorer(s), answers) for s, answers in probes]
    scale = max((scorer.scale for scorer, _ in scored), default=0)
    sums: Sums = {}
    ignored = sum(add_answers(sums, None, scorer, answers, scale) for scorer, answers in scored)
    return StructureScores(sums, group_sums_of(sums), scale, ignored)
