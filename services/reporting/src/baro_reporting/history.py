"""Figures of past editions as AFNOR published them, and the French display labels.

Two shipped data files back this module (``data/history.json``, ``data/labels_fr.json``).
Every figure there is *cited*: copied from a published AFNOR document named by its source,
never derived. Where a document gives only a change ("6,5 points de moins qu'en 2019"), the
figure's code is ``change.<code>``; where it gives a gap between two groups, ``gap.<what>``.

Both files are read once per process and validated on load: a bad entry raises ValueError
naming it, so a broken data file fails the first report instead of printing a wrong figure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

UNITS = frozenset({"points", "percent", "seconds", "rings", "count", "days"})
"""The units a cited figure may have: "points" is a score out of 100."""

HISTORY_FILE = "history.json"
LABELS_FILE = "labels_fr.json"


@dataclass(frozen=True)
class Source:
    """A published document figures are cited from."""

    id: str
    title: str
    publisher: str
    published_on: str | None
    document: str
    url: str | None


@dataclass(frozen=True)
class CitedFigure:
    """One national figure of one edition, as published."""

    edition: int
    code: str
    value: Decimal
    unit: str
    source: Source
    note: str | None


@dataclass(frozen=True)
class ReferenceFigure:
    """A published public-sector figure beside its private-sector reference."""

    edition: int
    code: str
    public: Decimal
    private: Decimal
    unit: str
    label_fr: str
    source: Source


@dataclass(frozen=True)
class CitedLaureate:
    """A published laureate; `department` is as printed ("Rhône", "06"), when printed."""

    edition: int
    name: str
    category: str | None
    source: Source
    department: str | None = None
    mention: str | None = None


@dataclass(frozen=True)
class History:
    sources: Mapping[str, Source]
    figures: tuple[CitedFigure, ...]
    laureates: tuple[CitedLaureate, ...]
    reference: tuple[ReferenceFigure, ...]


@dataclass(frozen=True)
class Labels:
    """French display labels; every lookup falls back (to the code) instead of raising."""

    categories: Mapping[str, str]
    kinds: Mapping[str, str]
    channels: Mapping[str, str]
    steps: Mapping[str, str]
    kpis: Mapping[str, str]
    kpi_units: Mapping[str, str]
    families: Mapping[str, str]
    determinants: Mapping[str, Mapping[str, str]]
    items: Mapping[str, Mapping[str, str]]

    def category(self, code: str) -> str:
        return self.categories.get(code, code)

    def kind(self, code: str) -> str:
        """A structure kind (registration's `kind`: commune, tourist_office…)."""
        return self.kinds.get(code, code)

    def channel(self, code: str) -> str:
        return self.channels.get(code, code)

    def step(self, code: str) -> str:
        return self.steps.get(code, code)

    def kpi(self, code: str) -> str:
        return self.kpis.get(code, code)

    def kpi_unit(self, code: str) -> str | None:
        """The KPI's unit ("percent", "rings", "seconds"), None when unknown."""
        return self.kpi_units.get(code)

    def family(self, code: str) -> str:
        return self.families.get(code, code)

    def determinant(self, referential_name: str, code: str, fallback: str) -> str:
        """The French label of a referential's determinant, else `fallback`."""
        return self.determinants.get(referential_name, {}).get(code, fallback)

    def item(self, referential_name: str, code: str, fallback: str) -> str:
        """The French label of a referential's item, else `fallback`."""
        return self.items.get(referential_name, {}).get(code, fallback)


# --- public API ---------------------------------------------------------------------------


def cited_figures() -> tuple[CitedFigure, ...]:
    """Every cited figure, sorted by (code, edition)."""
    return _history().figures


def cited_series(code: str) -> dict[int, CitedFigure]:
    """One code's cited figures by edition, oldest first; empty when none is published."""
    return {figure.edition: figure for figure in _history().figures if figure.code == code}


def reference_figures() -> tuple[ReferenceFigure, ...]:
    """The public versus private reference figures, sorted by (edition, code)."""
    return _history().reference


def cited_laureates() -> dict[int, tuple[CitedLaureate, ...]]:
    """The published laureates by edition, oldest first, in the order the source lists them."""
    by_edition: dict[int, list[CitedLaureate]] = {}
    for laureate in _history().laureates:
        by_edition.setdefault(laureate.edition, []).append(laureate)
    return {edition: tuple(by_edition[edition]) for edition in sorted(by_edition)}


def cited_sources() -> tuple[Source, ...]:
    """Every source document, sorted by id."""
    history = _history()
    return tuple(history.sources[key] for key in sorted(history.sources))


@cache
def labels() -> Labels:
    return parse_labels(_read_json(LABELS_FILE))


# --- loading and validation ---------------------------------------------------------------


@cache
def _history() -> History:
    return parse_history(_read_json(HISTORY_FILE))


def _read_json(name: str) -> object:
    text = resources.files("baro_reporting").joinpath("data", name).read_text(encoding="utf-8")
    document: object = json.loads(text)
    return document


def parse_history(document: object) -> History:
    """Validate and build the history from its JSON document; ValueError names a bad entry."""
    root = _mapping(document, "history")
    sources = {
        key: _source(key, _mapping(value, f"source {key!r}"))
        for key, value in _mapping(root.get("sources"), "sources").items()
    }

    figures: list[CitedFigure] = []
    seen: set[tuple[int, str]] = set()
    for index, raw in enumerate(_list(root.get("figures"), "figures")):
        entry = _mapping(raw, f"figure #{index}")
        where = f"figure #{index} ({entry.get('edition')!r}, {entry.get('code')!r})"
        figure = CitedFigure(
            edition=_int(entry, "edition", where),
            code=_text(entry, "code", where),
            value=_decimal(entry, "value", where),
            unit=_unit(entry, where),
            source=_source_of(entry, sources, where),
            note=_optional_text(entry, "note", where),
        )
        if (figure.edition, figure.code) in seen:
            raise ValueError(f"{where}: duplicate (edition, code)")
        seen.add((figure.edition, figure.code))
        figures.append(figure)

    laureates: list[CitedLaureate] = []
    for index, raw in enumerate(_list(root.get("laureates"), "laureates")):
        entry = _mapping(raw, f"laureate #{index}")
        where = f"laureate #{index} ({entry.get('edition')!r}, {entry.get('name')!r})"
        laureates.append(
            CitedLaureate(
                edition=_int(entry, "edition", where),
                name=_text(entry, "name", where),
                category=_optional_text(entry, "category", where),
                source=_source_of(entry, sources, where),
                department=_optional_text(entry, "department", where),
                mention=_optional_text(entry, "mention", where),
            )
        )

    reference: list[ReferenceFigure] = []
    seen_reference: set[tuple[int, str]] = set()
    for index, raw in enumerate(_list(root.get("reference"), "reference")):
        entry = _mapping(raw, f"reference #{index}")
        where = f"reference #{index} ({entry.get('edition')!r}, {entry.get('code')!r})"
        figure_ref = ReferenceFigure(
            edition=_int(entry, "edition", where),
            code=_text(entry, "code", where),
            public=_decimal(entry, "public", where),
            private=_decimal(entry, "private", where),
            unit=_unit(entry, where),
            label_fr=_text(entry, "label_fr", where),
            source=_source_of(entry, sources, where),
        )
        if (figure_ref.edition, figure_ref.code) in seen_reference:
            raise ValueError(f"{where}: duplicate (edition, code)")
        seen_reference.add((figure_ref.edition, figure_ref.code))
        reference.append(figure_ref)

    return History(
        sources=MappingProxyType(sources),
        figures=tuple(sorted(figures, key=lambda f: (f.code, f.edition))),
        laureates=tuple(laureates),
        reference=tuple(sorted(reference, key=lambda r: (r.edition, r.code))),
    )


def parse_labels(document: object) -> Labels:
    """Validate and build the labels from their JSON document; ValueError names a bad entry."""
    root = _mapping(document, "labels")
    determinants = {
        name: _labels_section(value, f"determinants {name!r}")
        for name, value in _mapping(root.get("determinants", {}), "determinants").items()
    }
    items = {
        name: _labels_section(value, f"items {name!r}")
        for name, value in _mapping(root.get("items", {}), "items").items()
    }
    return Labels(
        categories=_labels_section(root.get("categories", {}), "categories"),
        kinds=_labels_section(root.get("kinds", {}), "kinds"),
        channels=_labels_section(root.get("channels", {}), "channels"),
        steps=_labels_section(root.get("steps", {}), "steps"),
        kpis=_labels_section(root.get("kpis", {}), "kpis"),
        kpi_units=_labels_section(root.get("kpi_units", {}), "kpi_units"),
        families=_labels_section(root.get("families", {}), "families"),
        determinants=MappingProxyType(determinants),
        items=MappingProxyType(items),
    )


def _source(key: str, entry: Mapping[str, Any]) -> Source:
    where = f"source {key!r}"
    return Source(
        id=key,
        title=_text(entry, "title", where),
        publisher=_text(entry, "publisher", where),
        published_on=_optional_text(entry, "published_on", where),
        document=_text(entry, "document", where),
        url=_optional_text(entry, "url", where),
    )


def _source_of(entry: Mapping[str, Any], sources: Mapping[str, Source], where: str) -> Source:
    key = _text(entry, "source", where)
    if key not in sources:
        raise ValueError(f"{where}: unknown source {key!r}")
    return sources[key]


def _labels_section(value: object, where: str) -> Mapping[str, str]:
    section = _mapping(value, where)
    for code, label in section.items():
        if not isinstance(label, str) or not label:
            raise ValueError(f"{where} {code!r}: the label must be a non-empty string")
    return MappingProxyType(dict(section))


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list")
    return value


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {key!r} must be a non-empty string")
    return value


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    return None if value is None else _text(entry, key, where)


def _int(entry: Mapping[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}: {key!r} must be an integer")
    return value


def _decimal(entry: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = entry.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key!r} must be a decimal string, not {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{where}: {key!r} is not a decimal: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{where}: {key!r} is not a finite decimal: {value!r}")
    return number


def _unit(entry: Mapping[str, Any], where: str) -> str:
    unit = _text(entry, "unit", where)
    if unit not in UNITS:
        raise ValueError(f"{where}: unknown unit {unit!r}")
    return unit
