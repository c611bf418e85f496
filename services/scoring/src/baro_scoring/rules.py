"""The scoring rules of method `baro-scoring-1` (domain.md, "Scoring"). Pure: no I/O.

- Item score (`item_score`): an answer's score in [0, 1]. yes/no → 1/0; a measure → the
  score of the first threshold it does not exceed, else `otherwise`; a choice → its score;
  "n/a" (or a value the item cannot score) → left out of the numerator and the denominator.
- Group score (`Tally.score`): for an item, a determinant, a step or a channel,
  100 * Σ(weight * item score) / Σ(weight) over the group's answered items, across every
  probe of the structure (each probe as last corrected, scored by its own referential).
- Global score (`global_score`): the mean of the channel scores, over the channels with at
  least one answered item.
- Means (`mean`): of category, national, certified… global scores (see `figures.py`).
Ranks and the tie rule are in `figures.py` (`rank_category`).

All arithmetic goes through one pinned decimal context (34 digits; sums of weights and
scores stay exact), never the process's default one, so the same facts give the same digits
on any machine, live or replayed. Rounding is for display only (`views.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import reduce
from typing import Any, NamedTuple

from baro_contracts.audit_v1 import NOT_APPLICABLE, ChoiceAnswer, Item, MeasureAnswer

METHOD = "baro-scoring-1"
"""The rules' name, pinned in every publication: a change to the rules is a new method."""

CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
HUNDRED = Decimal(100)
ONE = Decimal(1)
ZERO = Decimal(0)

GROUP_KINDS = ("items", "determinants", "steps", "channels")
"""The groups a structure is scored on."""


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


class Tally(NamedTuple):
    """A group's answered items: Sum(weight * item score), Sum(weight) and how many answers."""

    weighted: Decimal
    weights: Decimal
    answers: int

    def plus(self, other: Tally) -> Tally:
        return Tally(
            CONTEXT.add(self.weighted, other.weighted),
            CONTEXT.add(self.weights, other.weights),
            self.answers + other.answers,
        )

    @property
    def score(self) -> Decimal:
        """100 * Sum(weight * item score) / Sum(weight)."""
        return CONTEXT.divide(CONTEXT.multiply(HUNDRED, self.weighted), self.weights)


def mean(values: Iterable[Decimal]) -> Decimal | None:
    """The mean in the pinned context, adding in the order given; None for no values."""
    total = ZERO
    count = 0
    for value in values:
        total = CONTEXT.add(total, value)
        count += 1
    return CONTEXT.divide(total, Decimal(count)) if count else None


def global_score(channels: Mapping[str, Tally]) -> Decimal | None:
    """The mean of the channel scores (in channel order), over channels with an answer."""
    return mean(channels[c].score for c in sorted(channels) if channels[c].weights)


class Referential:
    """A referential version's items by code, and the items of each of its groups. Each
    distinct answer's tally is kept once made: a campaign repeats the same few answers
    thousands of times."""

    def __init__(self, items: Iterable[Item]) -> None:
        self.items = {item.code: item for item in items}
        members: dict[tuple[str, str], list[str]] = {}
        for code, item in self.items.items():
            for group in (
                ("determinants", item.determinant),
                ("steps", item.step.value),
                ("channels", item.channel.value),
            ):
                members.setdefault(group, []).append(code)
        self.members = {group: tuple(codes) for group, codes in members.items()}
        """(kind, key) of each determinant, step and channel → the codes of its items."""
        self._tallies: dict[tuple[str, type, Any, int], Tally | None] = {}

    def answer_tally(self, code: str, value: Any, times: int) -> Tally | None:
        """The tally of an answer to one of its items given `times` times; None when the
        answer is not scored."""
        key = (code, value.__class__, value, times)  # True == 1, but not the same answer
        if key not in self._tallies:
            item = self.items[code]
            score = item_score(item, value)
            weight = CONTEXT.multiply(item.weight, Decimal(times))
            tally = None if score is None else Tally(CONTEXT.multiply(weight, score), weight, times)
            self._tallies[key] = tally
        return self._tallies[key]


@dataclass
class StructureScores:
    """A structure's tallies by kind of group and key, and the answers no item scores."""

    items: dict[str, Tally] = field(default_factory=dict)
    determinants: dict[str, Tally] = field(default_factory=dict)
    steps: dict[str, Tally] = field(default_factory=dict)
    channels: dict[str, Tally] = field(default_factory=dict)
    ignored_answers: int = 0
    """Answers to items the probe's referential does not have (audit-ingest refuses them)."""

    def of_kind(self, kind: str) -> dict[str, Tally]:
        tallies: dict[str, Tally] = getattr(self, kind)
        return tallies

    @property
    def global_score(self) -> Decimal | None:
        return global_score(self.channels)


def sum_tallies(tallies: Iterable[Tally]) -> Tally:
    """The tally of several tallies' answers together."""
    weighted, weights, answers = zip(*tallies, strict=True)
    return Tally(
        reduce(CONTEXT.add, weighted, ZERO), reduce(CONTEXT.add, weights, ZERO), sum(answers)
    )


def score_structure(probes: Iterable[tuple[Referential, Mapping[str, Any]]]) -> StructureScores:
    """A structure's scores from its probes, each given as (its referential, its current
    answers). Each answered item's tally sums its answers; each determinant's, step's and
    channel's sums the tallies of the items its probes' referentials put in it. A
    structure's probes repeat the same answers: each distinct answer is scored once, and
    counted as many times as it was given."""
    answers: dict[Referential, Counter[tuple[str, type, Any]]] = {}
    for referential, probe_answers in probes:
        # (item, type, answer): True == 1, but they are not the same answer.
        values = probe_answers.values()
        given = zip(probe_answers, map(type, values), values, strict=True)
        answers.setdefault(referential, Counter()).update(given)
    scores = StructureScores()
    by_item: dict[tuple[Referential, str], Tally] = {}
    for referential, counts in answers.items():
        for (code, _, value), times in counts.items():
            if code not in referential.items:
                scores.ignored_answers += times
                continue
            answer = referential.answer_tally(code, value, times)
            if answer is None:
                continue
            known = by_item.get((referential, code))
            by_item[referential, code] = answer if known is None else known.plus(answer)
    for (_, code), tally in by_item.items():
        known = scores.items.get(code)
        scores.items[code] = tally if known is None else known.plus(tally)
    for referential in answers:
        for (kind, key), codes in referential.members.items():
            answered = [by_item[referential, c] for c in codes if (referential, c) in by_item]
            if not answered:
                continue
            group = scores.of_kind(kind)
            tally = sum_tallies(answered)
            group[key] = tally if key not in group else group[key].plus(tally)
    return scores
