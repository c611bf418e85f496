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
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from itertools import chain
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


FIELD_BITS = 96
_FIELD = 1 << FIELD_BITS
WEIGHT_UNITS_LIMIT = 1 << 64
"""An answer's weight, in units of 10^-scale, stays below this: a group's Σ weight (and its
count of answers) then fits its field for billions of answers."""


def pack(units_weighted: int, units_weights: int, answers: int) -> int:
    """A group's (Σ w*s, Σ w, answers) as one integer: adding two packed sums adds each part
    (the lower two never reach 2^FIELD_BITS), and multiplying by n counts an answer n times."""
    return (units_weighted * _FIELD + units_weights) * _FIELD + answers


def unpack(packed: int) -> tuple[int, int, int]:
    return packed >> (2 * FIELD_BITS), (packed >> FIELD_BITS) % _FIELD, packed % _FIELD


Sums = dict[str, int]
"""Item code -> its packed (Σ w*s, Σ w, answers), in units of 10^-scale."""
GroupSums = dict[tuple[str, str], int]
"""("determinants" | "steps" | "channels", key) -> packed sums, likewise."""


def _add_into(into: dict[Any, int], more: Mapping[Any, int]) -> None:
    for key, packed in more.items():
        into[key] = into.get(key, 0) + packed


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
        return self._tallies(self.sums_of("items"))

    @functools.cached_property
    def determinants(self) -> dict[str, Tally]:
        return self._tallies(self.sums_of("determinants"))

    @functools.cached_property
    def steps(self) -> dict[str, Tally]:
        return self._tallies(self.sums_of("steps"))

    @functools.cached_property
    def channels(self) -> dict[str, Tally]:
        return self._tallies(self.sums_of("channels"))

    def sums_of(self, kind: str) -> Iterator[tuple[str, int]]:
        """(key, packed sums) of every answered item ("items") or group of a kind."""
        if kind == "items":
            return iter(self.sums.items())
        return ((key, packed) for (of, key), packed in self.group_sums.items() if of == kind)

    def _tallies(self, sums: Iterable[tuple[str, int]]) -> dict[str, Tally]:
        return {key: Tally(*unpack(packed), self.scale) for key, packed in sorted(sums)}

    @property
    def global_score(self) -> Decimal | None:
        channels = [unpack(packed) for _, packed in sorted(self.sums_of("channels"))]
        return mean(score_of(weighted, weights) for weighted, weights, _ in channels if weights)

    def step_score(self, step: str) -> Decimal | None:
        packed = self.group_sums.get(("steps", step))
        if not packed:
            return None
        weighted, weights, _ = unpack(packed)
        return score_of(weighted, weights)


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
    """A referential's items, remembering each distinct answer's packed (weight x score,
    weight, 1) in whole numbers of 10^-scale: a campaign repeats the same few answers
    thousands of times, and integer sums are exact and fast."""

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
        members: dict[tuple[str, str], list[str]] = {}
        for code, item_groups in self.groups.items():
            for group_key in item_groups:
                members.setdefault(group_key, []).append(code)
        self.group_members = [(key, tuple(codes)) for key, codes in sorted(members.items())]
        self.no_sums: Sums = dict.fromkeys(items, 0)

    def weighted(self, code: str, value: Any) -> Any:
        """The packed (weight x score, weight, 1) of an answer in units of 10^-scale;
        _NOT_SCORED ("n/a", or a value the item cannot score); _UNKNOWN for an item the
        referential does not have."""
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
                weight_units = int(CONTEXT.multiply(item.weight, unit))
                if weight_units >= WEIGHT_UNITS_LIMIT:
                    raise ValueError(f"item {code}'s weight {item.weight} is too large to sum")
                known = pack(int(weighted), weight_units, 1)
        self.memo[(code, value.__class__, value)] = known  # True == 1: the type keeps them apart
        return known

    def group_sums(self, sums: Sums) -> GroupSums:
        """The group sums of item sums made with this referential: each group sums its
        items' (cheaper than adding every answer to its groups)."""
        every_item = self.no_sums | sums
        group_sums: GroupSums = {}
        for key, codes in self.group_members:
            packed = sum(map(every_item.__getitem__, codes))
            if packed:
                group_sums[key] = packed
        return group_sums


def _rescaled(packed: int, factor: int) -> int:
    weighted, weights, answers = unpack(packed)
    return pack(weighted * factor, weights * factor, answers)


def add_answers(
    sums: Sums,
    group_sums: GroupSums,
    scorer: Scorer,
    answers: Mapping[str, Any],
    scale: int,
) -> int:
    """Add one probe's answers to the item and group sums (kept in units of 10^-scale,
    scale >= the scorer's); returns how many answers were to items the referential does not
    have. Each item belongs to one determinant, step and channel: its answer adds to them."""
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
        if factor != 1:
            known = _rescaled(known, factor)
        sums[code] = sums.get(code, 0) + known
        for group_key in scorer.groups[code]:
            group_sums[group_key] = group_sums.get(group_key, 0) + known
    return ignored


def tally_probes(
    sums: Sums, scorer: Scorer, probe_answers: Iterable[Mapping[str, Any]], scale: int
) -> int:
    """Add the answers of several probes of one referential to the item sums, like
    `add_answers` on each (group sums aside), but counting each distinct answer once: a
    structure's probes repeat the same answers. Returns how many answers were to items the
    referential does not have."""
    counts = Counter(
        chain.from_iterable(
            zip(answers.keys(), map(type, answers.values()), answers.values(), strict=True)
            for answers in probe_answers
        )
    )
    memo = scorer.memo
    factor = 10 ** (scale - scorer.scale)
    ignored = 0
    for key, count in counts.items():
        known = memo.get(key)
        if known is None:
            known = scorer.weighted(key[0], key[2])
        if known is _NOT_SCORED:
            continue
        if known is _UNKNOWN:
            ignored += count
            continue
        if factor != 1:
            known = _rescaled(known, factor)
        code = key[0]
        sums[code] = sums.get(code, 0) + known * count
    return ignored


def score_probes(
    probes: Iterable[tuple[Scorer | Mapping[str, Item], Mapping[str, Any]]],
) -> StructureScores:
    """A structure's scores from its probes, each given as (its referential's items, as a
    Scorer or by code, and its current answers)."""
    by_scorer: dict[int, tuple[Scorer, list[Mapping[str, Any]]]] = {}
    for items, answers in probes:
        scorer = items if isinstance(items, Scorer) else Scorer(items)
        by_scorer.setdefault(id(scorer), (scorer, []))[1].append(answers)
    # An answer adds to its item and to the groups its own referential puts the item in.
    scorers = list(by_scorer.values())
    scale = max((scorer.scale for scorer, _ in scorers), default=0)
    sums: Sums = {}
    group_sums: GroupSums = {}
    ignored = 0
    for scorer, probe_answers in scorers:
        scorer_sums: Sums = {}
        ignored += tally_probes(scorer_sums, scorer, probe_answers, scale)
        if len(scorers) == 1:
            sums, group_sums = scorer_sums, scorer.group_sums(scorer_sums)
        else:
            _add_into(sums, scorer_sums)
            _add_into(group_sums, scorer.group_sums(scorer_sums))
    return StructureScores(sums, group_sums, scale, ignored)
