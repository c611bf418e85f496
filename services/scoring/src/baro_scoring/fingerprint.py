"""The published results' fingerprint: SHA-256 over one canonical serialisation.

Canonical: JSON with sorted keys, no spaces, UTF-8; every score in exact decimal text;
structures in registration id order. Anyone holding the edition's events can recompute it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from baro_scoring.canonical import canonical_json, object_text
from baro_scoring.results import EditionSummary
from baro_scoring.rules import METHOD


def results_document(
    edition: int, structures: Iterable[Mapping[str, Any]], summary: EditionSummary
) -> dict[str, Any]:
    """Every structure's scores, the rankings, the laureates, the means and the KPIs."""
    return {
        "edition": edition,
        "method": METHOD,
        "structures": sorted(structures, key=lambda s: str(s["registration_id"])),
        "summary": summary.document(),
    }


def canonical(document: Mapping[str, Any]) -> bytes:
    return canonical_json(document).encode()


def results_text(edition: int, structure_texts: Iterable[str], summary: EditionSummary) -> str:
    """`canonical(results_document(...))` as text, from each structure's canonical text
    (`StructureResult.document_text()`), given in registration id order."""
    return results_head(edition) + ",".join(structure_texts) + results_tail(summary)


def results_head(edition: int) -> str:
    """What comes before the structures' texts in `results_text`: its members are in key
    order (edition, method, structures, summary)."""
    return object_text(
        {"edition": canonical_json(edition), "method": canonical_json(METHOD), "structures": "["}
    )[:-1]


def results_tail(summary: EditionSummary) -> str:
    """What comes after the structures' texts in `results_text`."""
    return '],"summary":' + canonical_json(summary.document()) + "}"


class ResultsDigest:
    """The fingerprint of `results_text`, taken as the structures' texts come (in
    registration id order), without making the whole text."""

    def __init__(self, edition: int) -> None:
        self._sha = hashlib.sha256(results_head(edition).encode())
        self._empty = True

    def add(self, structure_texts: list[str]) -> None:
        if not structure_texts:
            return
        if not self._empty:
            self._sha.update(b",")
        self._sha.update(",".join(structure_texts).encode())
        self._empty = False

    def finish(self, tail: str) -> str:
        """The fingerprint, once the structures are followed by `results_tail(summary)`."""
        self._sha.update(tail.encode())
        return self._sha.hexdigest()


def fingerprint(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical serialisation, in hex."""
    return fingerprint_of(canonical(document))


def fingerprint_of(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()
