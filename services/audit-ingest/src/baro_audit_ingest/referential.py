"""Referentials: checking a referential document, and checking a probe's answers against it.

Pure functions over the contract models; every check returns the problems it found as
(field, reason) pairs so a caller can report them all at once.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from importlib import resources
from typing import Any

from baro_contracts.audit_v1 import (
    NOT_APPLICABLE,
    Channel,
    ChoiceAnswer,
    Determinant,
    Item,
    MeasureAnswer,
    Measures,
    YesNoAnswer,
)

Problem = tuple[str, str]

DEFAULT_REFERENTIAL_RESOURCE = "default_referential.json"

# Which measures a probe of each channel carries; the first set is required, the second optional.
CHANNEL_MEASURES: dict[Channel, tuple[frozenset[str], frozenset[str]]] = {
    Channel.PHONE: (
        frozenset({"answered_first_attempt"}),
        frozenset({"rings", "waiting_seconds", "polite_formula"}),
    ),
    Channel.EMAIL: (frozenset({"answered"}), frozenset({"reply_delay_hours", "polite_formula"})),
    Channel.MAIL: (frozenset({"answered"}), frozenset({"reply_delay_days", "polite_formula"})),
    Channel.SOCIAL: (
        frozenset({"network", "answered"}),
        frozenset({"reply_delay_hours", "polite_formula"}),
    ),
    Channel.WEBSITE: (
        frozenset(
            {
                "rgaa_compliant",
                "satisfaction_synthesis_published",
                "navigation_help",
                "online_procedures",
            }
        ),
        frozenset(),
    ),
    Channel.VISIT: (frozenset(), frozenset({"waiting_seconds"})),
}
# A reply's delay is measured when there was a reply, and only then.
REPLY_DELAYS = {
    Channel.EMAIL: "reply_delay_hours",
    Channel.MAIL: "reply_delay_days",
    Channel.SOCIAL: "reply_delay_hours",
}


@dataclass(frozen=True)
class ReferentialDocument:
    """One version of a referential: its determinants and items."""

    name: str
    description: str
    determinants: tuple[Determinant, ...]
    items: tuple[Item, ...]
    by_code: dict[str, Item] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", {item.code: item for item in self.items})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferentialDocument:
        return cls(
            name=data["name"],
            description=data.get("description", ""),
            determinants=tuple(Determinant.model_validate(d) for d in data["determinants"]),
            items=tuple(Item.model_validate(i) for i in data["items"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "determinants": [d.model_dump(mode="json") for d in self.determinants],
            "items": [i.model_dump(mode="json", exclude_none=True) for i in self.items],
        }

    @cached_property
    def items_by_channel(self) -> dict[Channel, tuple[Item, ...]]:
        return {
            channel: tuple(i for i in self.items if i.channel is channel) for channel in Channel
        }

    def problems(self) -> list[Problem]:
        """What makes this document unusable as a referential (empty when it is fine)."""
        problems: list[Problem] = []
        codes = Counter(d.code for d in self.determinants)
        problems += [
            ("determinants", f"determinant {c} is listed {n} times")
            for c, n in codes.items()
            if n > 1
        ]
        problems += [
            (f"determinants.{i}.label", f"{d.code}: {MAX_TEXT} characters at most")
            for i, d in enumerate(self.determinants)
            if len(d.label) > MAX_TEXT
        ]
        if len(codes) > 20:
            problems.append(("determinants", f"{len(codes)} determinants: the barometer has 20"))
        item_codes = Counter(i.code for i in self.items)
        problems += [
            ("items", f"item {c} is listed {n} times") for c, n in item_codes.items() if n > 1
        ]
        used = set()
        for index, item in enumerate(self.items):
            where = f"items.{index}"
            used.add(item.determinant)
            if item.determinant not in codes:
                problems.append(
                    (f"{where}.determinant", f"{item.code}: unknown determinant {item.determinant}")
                )
            problems += [(f"{where}.answer", p) for p in _answer_spec_problems(item)]
            problems += [(f"{where}.{f}", p) for f, p in _size_problems(item)]
            if item.measure is not None and item.measure not in _measures_of(item.channel):
                problems.append(
                    (
                        f"{where}.measure",
                        f"{item.code}: a {item.channel.value} probe has no measure "
                        f"{item.measure!r}; it has {', '.join(sorted(_measures_of(item.channel)))}",
                    )
                )
        problems += [
            ("determinants", f"determinant {code} has no item")
            for code in codes
            if code not in used
        ]
        problems += [
            ("items", f"no item for the {channel.value} channel: a probe on it could not be scored")
            for channel, items in self.items_by_channel.items()
            if not items
        ]
        return problems

    def answer_problems(self, channel: Channel, answers: dict[str, Any]) -> list[Problem]:
        """Every item of `channel` answered, no other item, each value of the right type."""
        problems: list[Problem] = []
        for code, value in answers.items():
            item = self.by_code.get(code)
            where = f"answers.{code}"
            if item is None:
                problems.append((where, f"unknown item code {code!r} in referential {self.name}"))
            elif item.channel is not channel:
                problems.append(
                    (
                        where,
                        f"item {code} belongs to the {item.channel.value} channel, "
                        f"not to this {channel.value} probe",
                    )
                )
            elif (reason := value_problem(item, value)) is not None:
                problems.append((where, reason))
        missing = [i.code for i in self.items_by_channel[channel] if i.code not in answers]
        if missing:
            problems.append(
                (
                    "answers",
                    f"missing answers for {len(missing)} {channel.value} item(s): "
                    f'{", ".join(missing)} (answer "n/a" where an item does not apply)',
                )
            )
        return problems


def value_problem(item: Item, value: Any) -> str | None:
    """Why `value` is not a valid answer to `item`, or None."""
    if value == NOT_APPLICABLE:
        return None
    spec = item.answer
    if isinstance(spec, YesNoAnswer):
        if not isinstance(value, bool):
            return f'{item.code} is a yes/no item: answer true, false or "n/a", not {value!r}'
    elif isinstance(spec, MeasureAnswer):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f'{item.code} measures {spec.unit}: answer a number or "n/a", not {value!r}'
        if not spec.minimum <= value <= spec.maximum:
            return (
                f"{item.code}: {value} {spec.unit} is out of range [{spec.minimum}, {spec.maximum}]"
            )
    elif isinstance(spec, ChoiceAnswer) and value not in spec.choices:
        return f'{item.code}: answer one of {", ".join(spec.choices)} or "n/a", not {value!r}'
    return None


def measure_problems(channel: Channel, measures: Measures) -> list[Problem]:
    """The channel's required measures present, no measure of another channel."""
    required, optional = CHANNEL_MEASURES[channel]
    given = {name for name, value in measures.model_dump().items() if value is not None}
    problems: list[Problem] = [
        (f"measures.{name}", f"a {channel.value} probe must report {name}")
        for name in sorted(required - given)
    ]
    problems += [
        (f"measures.{name}", f"{name} is not measured on a {channel.value} probe")
        for name in sorted(given - required - optional)
    ]
    delay = REPLY_DELAYS.get(channel)
    if delay and measures.answered is False and getattr(measures, delay) is not None:
        problems.append((f"measures.{delay}", f"{delay} is set but answered is false"))
    if delay and measures.answered and getattr(measures, delay) is None:
        problems.append((f"measures.{delay}", f"answered is true: report {delay} too"))
    return problems


def consistency_problems(
    document: ReferentialDocument, answers: dict[str, Any], measures: Measures
) -> list[Problem]:
    """An item that scores a measure must give the same value as the measure."""
    problems: list[Problem] = []
    for code, value in answers.items():
        item = document.by_code.get(code)
        if item is None or item.measure is None or value == NOT_APPLICABLE:
            continue
        measured = getattr(measures, item.measure, None)
        if measured is not None and measured != value:
            problems.append(
                (
                    f"answers.{code}",
                    f"{code} scores the measure {item.measure}, which is {measured!r}, "
                    f"but the answer is {value!r}: make them agree",
                )
            )
    return problems


def _measures_of(channel: Channel) -> frozenset[str]:
    required, optional = CHANNEL_MEASURES[channel]
    return required | optional


MAX_WEIGHT = Decimal(100)
"""Weights say how much an item counts against the others: 1 to a few in practice."""
MAX_MEASURE = 1_000_000_000
"""The largest number a measure item's bounds may name (seconds, rings, hours...)."""
MAX_TEXT = 500
MAX_CHOICES = 50


def _size_problems(item: Item) -> list[Problem]:
    """What would make an item absurd: an unbounded weight, measure or text."""
    problems: list[Problem] = []
    if item.weight > MAX_WEIGHT:
        problems.append(("weight", f"{item.code}: a weight is at most {MAX_WEIGHT}"))
    texts = {"label": item.label, "measure": item.measure or ""}
    spec = item.answer
    if isinstance(spec, MeasureAnswer):
        texts["answer.unit"] = spec.unit
        numbers = [spec.minimum, spec.maximum, *(t.up_to for t in spec.thresholds)]
        if not all(math.isfinite(n) and abs(n) <= MAX_MEASURE for n in numbers):
            problems.append(
                ("answer", f"{item.code}: bounds and thresholds are within ±{MAX_MEASURE}")
            )
        if len(spec.thresholds) > MAX_CHOICES:
            problems.append(("answer.thresholds", f"{item.code}: at most {MAX_CHOICES}"))
    if isinstance(spec, ChoiceAnswer):
        if len(spec.choices) > MAX_CHOICES:
            problems.append(("answer.choices", f"{item.code}: at most {MAX_CHOICES} choices"))
        if any(len(choice) > MAX_TEXT for choice in spec.choices):
            problems.append(
                ("answer.choices", f"{item.code}: a choice is {MAX_TEXT} characters at most")
            )
    problems += [
        (field, f"{item.code}: {MAX_TEXT} characters at most")
        for field, text in texts.items()
        if len(text) > MAX_TEXT
    ]
    return problems


def _answer_spec_problems(item: Item) -> list[str]:
    spec = item.answer
    if isinstance(spec, MeasureAnswer):
        bounds = [t.up_to for t in spec.thresholds]
        problems = []
        if spec.minimum >= spec.maximum:
            problems.append(f"{item.code}: minimum must be below maximum")
        if any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
            problems.append(f"{item.code}: thresholds must be in increasing order of up_to")
        return problems
    if isinstance(spec, ChoiceAnswer) and NOT_APPLICABLE in spec.choices:
        return [f"{item.code}: {NOT_APPLICABLE!r} is reserved for items that do not apply"]
    return []


def default_referential() -> ReferentialDocument:
    """The referential this project ships, used by every edition until an admin replaces it."""
    text = (
        resources.files("baro_audit_ingest.data")
        .joinpath(DEFAULT_REFERENTIAL_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return ReferentialDocument.from_json(json.loads(text))
