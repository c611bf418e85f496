"""The one canonical serialiser of scoring's results, and the fingerprint.

Canonical: JSON with sorted keys, no spaces, UTF-8 as it is, no NaN; every score and weight
in exact decimal text (all its digits, no exponent, no trailing zeros); structures in
registration id order. An edition's results document is

    {"edition": …, "method": "baro-scoring-1", "structures": [each structure's document],
     "summary": the edition's figures}

and its fingerprint is the SHA-256 of its canonical text: anyone holding the edition's
events can recompute it. A large edition's text is made (and hashed) a structure at a time:
`ResultsText` gives the same bytes as `canonical_json(results_document(...))`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from baro_scoring.facts import EditionFacts
from baro_scoring.figures import EditionFigures, Mean, Ranked, StructureLine, edition_figures
from baro_scoring.kpis import KPI_BY_CODE
from baro_scoring.results import StructureResult, edition_results
from baro_scoring.rules import CONTEXT, GROUP_KINDS, METHOD, Tally


def canonical_json(value: Any) -> str:
    """The canonical text of a document: what `json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)` gives, made by orjson (ten times faster;
    the same bytes for every string, as `test_document.py` checks)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def exact(value: Decimal) -> str:
    """A decimal's canonical text: all its digits, no exponent, no trailing zeros."""
    return format(CONTEXT.normalize(value), "f")


def exact_or_none(value: Decimal | None) -> str | None:
    return exact(value) if value is not None else None


@functools.lru_cache(maxsize=65536)
def group_document(tally: Tally) -> dict[str, Any]:
    """A group's score, weights and answers; structures share most of them (never changed)."""
    return {"score": exact(tally.score), "weights": exact(tally.weights), "answers": tally.answers}


LINE_KEYS = (
    "registration_id",
    "name",
    "category",
    "participation",
    "certified",
    "planned",
    "probes",
    "complete",
    "channel_probes",
    "global",
    "channels",
    "steps",
    "kpis",
)
"""The members of a structure's document its line keeps (what the edition's figures need)."""


def structure_document(result: StructureResult) -> dict[str, Any]:
    """Everything about a structure's results."""
    profile = result.profile
    scores = result.scores
    document: dict[str, Any] = {
        "registration_id": str(result.registration_id),
        "name": profile.name if profile else None,
        "category": profile.category if profile else None,
        "participation": profile.participation if profile else None,
        "certified": profile.certified if profile else None,
        "status": profile.status if profile else None,
        "planned": result.planned,
        "probes": result.probes,
        "complete": result.complete,
        "channel_probes": dict(sorted(result.channel_probes.items())),
        "global": exact_or_none(scores.global_score),
        "kpis": dict(sorted(result.kpis.items())),
        "ignored_answers": scores.ignored_answers,
    }
    for kind in GROUP_KINDS:
        tallies = scores.of_kind(kind)
        document[kind] = {key: group_document(tallies[key]) for key in sorted(tallies)}
    return document


def line_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A structure's line: the members of its document the edition's figures need."""
    return {key: document[key] for key in LINE_KEYS}


def line_of(document: Mapping[str, Any]) -> StructureLine:
    return StructureLine.from_document(document)


def _mean_document(mean: Mean) -> dict[str, Any]:
    return {"score": exact_or_none(mean.score), "structures": mean.structures}


def _ranked_document(entry: Ranked) -> dict[str, Any]:
    line = entry.line
    return {
        "rank": entry.rank,
        "registration_id": str(line.registration_id),
        "name": line.name,
        "global": exact_or_none(line.global_score),
        "processing": exact_or_none(line.processing_score),
        "complete": line.complete,
        "probes": line.probes,
        "planned": line.planned,
    }


def kpi_documents(figures: EditionFigures) -> dict[str, dict[str, Any]]:
    documents = {}
    for code, (numerator, denominator) in sorted(figures.kpis.items()):
        kpi = KPI_BY_CODE[code]
        documents[code] = {
            "label": kpi.label,
            "channel": kpi.channel,
            "kind": kpi.kind,
            "value": exact_or_none(kpi.value(numerator, denominator)),
            "numerator": numerator,
            "denominator": denominator,
        }
    return documents


def figures_document(figures: EditionFigures) -> dict[str, Any]:
    """The edition's figures (the results document's `summary`)."""
    return {
        "national": _mean_document(figures.national),
        "categories": {c: _mean_document(m) for c, m in sorted(figures.categories.items())},
        "certified": _mean_document(figures.certified),
        "not_certified": _mean_document(figures.not_certified),
        "channels": {c: _mean_document(m) for c, m in sorted(figures.channels.items())},
        "category_channels": {
            category: {c: _mean_document(m) for c, m in sorted(channels.items())}
            for category, channels in sorted(figures.category_channels.items())
        },
        "channel_probes": dict(sorted(figures.channel_probes.items())),
        "rankings": {
            category: [_ranked_document(entry) for entry in ranking]
            for category, ranking in sorted(figures.rankings.items())
        },
        "laureates": [
            {"category": entry.category, **_ranked_document(entry)} for entry in figures.laureates
        ],
        "kpis": kpi_documents(figures),
    }


def results_document(
    edition: int, structures: Iterable[Mapping[str, Any]], figures: EditionFigures
) -> dict[str, Any]:
    """An edition's whole results document (structures given in any order)."""
    return {
        "edition": edition,
        "method": METHOD,
        "structures": sorted(structures, key=lambda s: str(s["registration_id"])),
        "summary": figures_document(figures),
    }


class ResultsText:
    """`canonical_json(results_document(...))` made a structure at a time, hashed as it
    goes: the structures' canonical texts, given in registration id order, sit between the
    head (the members before "structures", in key order) and the tail (the figures)."""

    def __init__(self, edition: int, *, keep: bool = False) -> None:
        self.head = canonical_json({"edition": edition, "method": METHOD})[:-1]
        self.head += ',"structures":['
        self._sha = hashlib.sha256(self.head.encode())
        self._count = 0
        self._kept: list[str] | None = [] if keep else None

    def add(self, structure_text: str) -> None:
        piece = structure_text if not self._count else "," + structure_text
        self._sha.update(piece.encode())
        self._count += 1
        if self._kept is not None:
            self._kept.append(piece)

    def finish(self, figures: EditionFigures) -> str:
        """The fingerprint."""
        self.tail = '],"summary":' + canonical_json(figures_document(figures)) + "}"
        self._sha.update(self.tail.encode())
        return self._sha.hexdigest()

    @property
    def text(self) -> str:
        """The whole text (when made with keep=True, after `finish`)."""
        assert self._kept is not None
        return self.head + "".join(self._kept) + self.tail


def fingerprint(document: Mapping[str, Any]) -> str:
    """SHA-256 of a results document's canonical text, in hex."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


@dataclass(frozen=True)
class ResultsDocument:
    """An edition's results as published: its figures, each structure's line, the
    canonical text and its fingerprint."""

    edition: int
    fingerprint: str
    figures: EditionFigures
    lines: list[dict[str, Any]]
    """Each structure's line document, in registration id order."""
    text: str


def freeze(facts: EditionFacts) -> ResultsDocument:
    """The edition's results document from its facts."""
    text = ResultsText(facts.edition, keep=True)
    lines = []
    for result in edition_results(facts):
        document = structure_document(result)
        text.add(canonical_json(document))
        lines.append(line_document(document))
    figures = edition_figures(facts.edition, map(line_of, lines))
    return ResultsDocument(facts.edition, text.finish(figures), figures, lines, text.text)
