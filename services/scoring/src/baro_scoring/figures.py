"""An edition's figures from its structures' lines: the national and category means,
certified against non-certified, channel means, rankings, laureates and KPIs. Pure.

- Means are over the structures with a global score and a category; a category's too.
- Rankings (`rank_category`) hold, per category, the complete structures (every planned
  probe in) by global score, ties broken by the processing-step score; equal on both, they
  share the rank. Incomplete structures follow, unranked.
- The laureates of a category are its rank-1 structures: joint when several share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from baro_contracts.audit_v1 import Step
from baro_scoring.kpis import add_tallies
from baro_scoring.rules import mean


@dataclass(frozen=True)
class StructureLine:
    """What the edition's figures need of one structure (a row of the read model), read
    from its line document (see `document.line_document`)."""

    registration_id: UUID
    name: str | None
    category: str | None
    participation: str | None
    certified: bool | None
    complete: bool
    probes: int
    planned: int | None
    global_score: Decimal | None
    processing_score: Decimal | None
    channels: dict[str, Decimal]
    channel_probes: dict[str, int]
    kpis: dict[str, list[int]]

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> StructureLine:
        processing = document["steps"].get(Step.PROCESSING.value)
        return cls(
            registration_id=UUID(document["registration_id"]),
            name=document["name"],
            category=document["category"],
            participation=document["participation"],
            certified=document["certified"],
            complete=document["complete"],
            probes=document["probes"],
            planned=document["planned"],
            global_score=Decimal(document["global"]) if document["global"] else None,
            processing_score=Decimal(processing["score"]) if processing else None,
            channels={c: Decimal(g["score"]) for c, g in document["channels"].items()},
            channel_probes=dict(document["channel_probes"]),
            kpis={k: list(v) for k, v in document["kpis"].items()},
        )


@dataclass(frozen=True)
class Ranked:
    rank: int | None
    """None for a structure not complete (unranked)."""
    category: str
    line: StructureLine


@dataclass(frozen=True)
class Mean:
    score: Decimal | None
    structures: int


def mean_of(values: list[Decimal]) -> Mean:
    return Mean(mean(values), len(values))


def merit(line: StructureLine) -> tuple[Decimal, Decimal]:
    """What ranks a structure: its global score, then its processing-step score (none ranks
    below any). Compared as they are: negating a decimal would round it to the process's
    context."""
    assert line.global_score is not None
    processing = line.processing_score if line.processing_score is not None else Decimal(-1)
    return (line.global_score, processing)


def rank_category(category: str, lines: Iterable[StructureLine]) -> list[Ranked]:
    """The tie rule: equal merits share the best of their positions."""
    by_id = sorted(
        (line for line in lines if line.global_score is not None),
        key=lambda line: str(line.registration_id),
    )
    scored = sorted(by_id, key=merit, reverse=True)  # stable: equal merits stay in id order
    complete = [line for line in scored if line.complete]
    ranked: list[Ranked] = []
    for position, line in enumerate(complete, start=1):
        previous = ranked[-1] if ranked else None
        tied = previous is not None and merit(previous.line) == merit(line)
        ranked.append(Ranked(previous.rank if tied and previous else position, category, line))
    ranked.extend(Ranked(None, category, line) for line in scored if not line.complete)
    return ranked


@dataclass
class EditionFigures:
    edition: int
    national: Mean
    categories: dict[str, Mean]
    certified: Mean
    not_certified: Mean
    channels: dict[str, Mean]
    category_channels: dict[str, dict[str, Mean]]
    rankings: dict[str, list[Ranked]]
    kpis: dict[str, list[int]]
    channel_probes: dict[str, int]
    structures: int = 0
    laureates: list[Ranked] = field(default_factory=list)

    def rank_of(self, registration_id: UUID) -> Ranked | None:
        for ranking in self.rankings.values():
            for entry in ranking:
                if entry.line.registration_id == registration_id:
                    return entry
        return None


def _channel_means(lines: list[StructureLine]) -> dict[str, Mean]:
    channels: dict[str, list[Decimal]] = {}
    for line in lines:
        for channel, score in line.channels.items():
            channels.setdefault(channel, []).append(score)
    return {c: mean_of(scores) for c, scores in channels.items()}


def edition_figures(edition: int, lines: Iterable[StructureLine]) -> EditionFigures:
    """The figures of the structures with a global score and a category, taken in
    registration id order (means add in that order)."""
    scored = sorted(
        (line for line in lines if line.global_score is not None and line.category),
        key=lambda line: line.registration_id.int,
    )
    by_category: dict[str, list[StructureLine]] = {}
    for line in scored:
        assert line.category is not None
        by_category.setdefault(line.category, []).append(line)
    kpis: dict[str, list[int]] = {}
    channel_probes: dict[str, int] = {}
    for line in scored:
        add_tallies(kpis, line.kpis)
        for channel, count in line.channel_probes.items():
            channel_probes[channel] = channel_probes.get(channel, 0) + count
    rankings = {c: rank_category(c, members) for c, members in sorted(by_category.items())}

    def global_scores(lines: Iterable[StructureLine]) -> list[Decimal]:
        return [line.global_score for line in lines if line.global_score is not None]

    return EditionFigures(
        edition=edition,
        structures=len(scored),
        national=mean_of(global_scores(scored)),
        categories={c: mean_of(global_scores(members)) for c, members in by_category.items()},
        certified=mean_of(global_scores(line for line in scored if line.certified)),
        not_certified=mean_of(global_scores(line for line in scored if not line.certified)),
        channels=_channel_means(scored),
        category_channels={c: _channel_means(members) for c, members in by_category.items()},
        rankings=rankings,
        kpis=kpis,
        channel_probes=channel_probes,
        laureates=[entry for ranking in rankings.values() for entry in ranking if entry.rank == 1],
    )
