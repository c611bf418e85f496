"""An edition's results from its facts: each structure's scores, then the category and
national means, certified against non-certified, channel means, rankings, laureates and
KPIs. Pure: the live projection, publication and replay all call these functions.

- Means are over the structures with a global score; a category's too.
- Rankings hold, per category, the complete structures (every planned probe in) by global
  score, ties broken by the processing-step score; equal on both, they share the rank.
  Incomplete structures follow, unranked.
- The laureates of a category are its rank-1 structures: joint when several share it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from baro_contracts.audit_v1 import Step
from baro_scoring.canonical import canonical_json, object_text
from baro_scoring.facts import UUID_ORDER, EditionFacts, Profile, StructureFacts
from baro_scoring.kpis import KPI_BY_CODE, add_tallies, tally_kpis
from baro_scoring.lru import Lru
from baro_scoring.rules import (
    CONTEXT,
    GroupSums,
    StructureScores,
    Sums,
    add_answers,
    mean,
    score_of,
    score_probes,
    unpack,
)


def exact(value: Decimal) -> str:
    """A decimal's canonical text: all its digits, no exponent, no trailing zeros."""
    return format(CONTEXT.normalize(value), "f")


@functools.lru_cache(maxsize=65536)
def _group_document(packed: int, scale: int) -> dict[str, Any]:
    """One group's document; shared by every structure with the same sums (never changed)."""
    units_weighted, units_weights, answers = unpack(packed)
    return {
        "score": exact(score_of(units_weighted, units_weights)),
        "weights": exact(CONTEXT.scaleb(Decimal(units_weights), -scale)),
        "answers": answers,
    }


@functools.lru_cache(maxsize=65536)
def _group_text(packed: int, scale: int) -> str:
    return canonical_json(_group_document(packed, scale))


@functools.lru_cache(maxsize=65536)
def _member_text(key: str, packed: int, scale: int) -> str:
    """`"key":{group's text}`; shared by every structure with the same sums for that key."""
    return f"{canonical_json(key)}:{_group_text(packed, scale)}"


def _groups_text(scores: StructureScores, kind: str) -> str:
    """`canonical_json(_groups(scores, kind))`, from each group's text made once."""
    scale = scores.scale
    members = [_member_text(key, packed, scale) for key, packed in sorted(scores.sums_of(kind))]
    return "{" + ",".join(members) + "}"


def _groups(scores: StructureScores, kind: str) -> dict[str, dict[str, Any]]:
    """Each answered item ("items") or group of a kind, by key, in exact canonical text."""
    scale = scores.scale
    return {key: _group_document(packed, scale) for key, packed in sorted(scores.sums_of(kind))}


_GROUP_KINDS_OF_LINE = ("channels", "steps")
"""The groups a structure's line holds, as `_groups(scores, kind)`."""


@dataclass(frozen=True)
class StructureResult:
    registration_id: UUID
    profile: Profile | None
    planned: int | None
    probes: int
    complete: bool
    channel_probes: dict[str, int]
    scores: StructureScores
    kpis: dict[str, list[int]]

    def line_document(self) -> dict[str, Any]:
        """What the edition-wide figures need (a `StructureLine`), in exact canonical text."""
        profile = self.profile
        global_score = self.scores.global_score
        return {
            "registration_id": str(self.registration_id),
            "name": profile.name if profile else None,
            "category": profile.category if profile else None,
            "participation": profile.participation if profile else None,
            "certified": profile.certified if profile else None,
            "planned": self.planned,
            "probes": self.probes,
            "complete": self.complete,
            "channel_probes": dict(sorted(self.channel_probes.items())),
            "global": exact(global_score) if global_score is not None else None,
            "channels": _groups(self.scores, "channels"),
            "steps": _groups(self.scores, "steps"),
            "kpis": dict(sorted(self.kpis.items())),
        }

    def document(self, line: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything about the structure's scores, every number in exact canonical text
        (its `line_document()`, when already made, is not made again)."""
        return {
            **(line if line is not None else self.line_document()),
            "status": self.profile.status if self.profile else None,
            "determinants": _groups(self.scores, "determinants"),
            "items": _groups(self.scores, "items"),
            "ignored_answers": self.scores.ignored_answers,
        }

    def document_text(self, line: dict[str, Any] | None = None) -> str:
        """`canonical_json(self.document(line))`, made faster: an edition has hundreds of
        thousands of item and determinant scores, most of them alike."""
        members = {
            key: canonical_json(value)
            for key, value in (line if line is not None else self.line_document()).items()
            if key not in _GROUP_KINDS_OF_LINE
        }
        for kind in _GROUP_KINDS_OF_LINE:
            members[kind] = _groups_text(self.scores, kind)
        members["status"] = canonical_json(self.profile.status if self.profile else None)
        members["determinants"] = _groups_text(self.scores, "determinants")
        members["items"] = _groups_text(self.scores, "items")
        members["ignored_answers"] = canonical_json(self.scores.ignored_answers)
        return object_text(members)

    def line(self) -> StructureLine:
        return StructureLine.from_document(self.line_document())


@dataclass
class _Scored:
    """A structure's item sums as of these probe versions: (recorded event id, correction
    event ids, referential event id) per probe id."""

    versions: dict[UUID, tuple[str, tuple[str, ...], str]]
    scale: int
    sums: Sums
    group_sums: GroupSums
    ignored: int


class ScoreMemory(Lru[UUID, _Scored]):
    """Each structure's item sums from its last scoring, so that a structure gaining a probe
    adds that probe's answers only (the live consumer's case), instead of rescoring them all.
    Anything else (a correction, another referential) rescores the structure."""

    def __init__(self, size: int = 20_000) -> None:
        super().__init__(size)


def _score(
    edition: EditionFacts,
    facts: StructureFacts,
    current: list[tuple[Any, dict[str, Any], dict[str, Any]]],
    memory: ScoreMemory | None,
) -> StructureScores:
    if memory is None:
        return _score_all(edition, current)
    scorers = {p.probe_id: edition.scorer(p.referential_version) for p, _, _ in current}
    scale = max((s.scale for s in scorers.values()), default=0)
    versions = {
        p.probe_id: (
            p.event_id,
            tuple(c.event_id for _, c in sorted(facts.corrections.get(p.probe_id, {}).items())),
            edition.referential_event_id(p.referential_version),
        )
        for p, _, _ in current
    }
    known = memory.get(facts.registration_id)
    if (
        known is None
        or known.scale != scale
        or any(versions.get(p) != v for p, v in known.versions.items())
    ):
        scores = _score_all(edition, current)
        memory.put(
            facts.registration_id,
            _Scored(versions, scale, scores.sums, scores.group_sums, scores.ignored_answers),
        )
        return scores
    todo = [(p, a) for p, a, _ in current if p.probe_id not in known.versions]
    # Copies: results already made from the remembered sums must not change.
    sums, group_sums = dict(known.sums), dict(known.group_sums)
    ignored = known.ignored
    for probe, answers in todo:
        ignored += add_answers(sums, group_sums, scorers[probe.probe_id], answers, scale)
    memory.put(facts.registration_id, _Scored(versions, scale, sums, group_sums, ignored))
    return StructureScores(sums, group_sums, scale, ignored)


def _score_all(
    edition: EditionFacts, current: list[tuple[Any, dict[str, Any], dict[str, Any]]]
) -> StructureScores:
    """Every probe's answers scored with its own referential."""
    return score_probes(
        (edition.scorer(probe.referential_version), answers) for probe, answers, _ in current
    )


def structure_result(
    edition: EditionFacts, facts: StructureFacts, memory: ScoreMemory | None = None
) -> StructureResult:
    current = facts.current_probes()
    scores = _score(edition, facts, current, memory)
    channel_probes: dict[str, int] = {}
    for probe, _, _ in current:
        channel_probes[probe.channel.value] = channel_probes.get(probe.channel.value, 0) + 1
    plan = facts.plan
    filled = {probe.slot for probe, _, _ in current}
    return StructureResult(
        registration_id=facts.registration_id,
        profile=facts.profile,
        planned=len(plan.probes) if plan else None,
        probes=len(current),
        complete=plan is not None and all(p.slot in filled for p in plan.probes),
        channel_probes=channel_probes,
        scores=scores,
        kpis=tally_kpis((probe.channel.value, measures) for probe, _, measures in current),
    )


def edition_results(edition: EditionFacts) -> Iterator[StructureResult]:
    """Every structure registration or audit-ingest told us of, in registration id order,
    each computed when it is taken."""
    for registration_id in sorted(edition.structures, key=UUID_ORDER):
        yield structure_result(edition, edition.structures[registration_id])


@dataclass(frozen=True)
class StructureLine:
    """What the edition-wide figures need of one structure (a row of the read model)."""

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
    category: str
    line: StructureLine

    def document(self) -> dict[str, Any]:
        line = self.line
        return {
            "rank": self.rank,
            "registration_id": str(line.registration_id),
            "name": line.name,
            "global": _text(line.global_score),
            "processing": _text(line.processing_score),
            "complete": line.complete,
            "probes": line.probes,
            "planned": line.planned,
        }


def _text(value: Decimal | None) -> str | None:
    return exact(value) if value is not None else None


@dataclass(frozen=True)
class Mean:
    score: Decimal | None
    structures: int

    def document(self) -> dict[str, Any]:
        return {"score": _text(self.score), "structures": self.structures}


def _mean_of(values: list[Decimal]) -> Mean:
    return Mean(mean(values), len(values))


def _merit(line: StructureLine) -> tuple[Decimal, Decimal]:
    # Global score, then processing-step score (none ranks below any). Compared as they are:
    # negating a decimal would round it to the process's context.
    assert line.global_score is not None
    processing = line.processing_score if line.processing_score is not None else Decimal(-1)
    return (line.global_score, processing)


def rank_category(category: str, lines: Iterable[StructureLine]) -> list[Ranked]:
    by_id = sorted(
        (line for line in lines if line.global_score is not None),
        key=lambda line: str(line.registration_id),
    )
    scored = sorted(by_id, key=_merit, reverse=True)  # stable: equal merits stay in id order
    complete = [line for line in scored if line.complete]
    ranked: list[Ranked] = []
    for position, line in enumerate(complete, start=1):
        previous = ranked[-1] if ranked else None
        tied = previous is not None and _merit(previous.line) == _merit(line)
        ranked.append(Ranked(previous.rank if tied and previous else position, category, line))
    ranked.extend(Ranked(None, category, line) for line in scored if not line.complete)
    return ranked


@dataclass
class EditionSummary:
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

    def kpi_documents(self) -> dict[str, dict[str, Any]]:
        documents = {}
        for code, (numerator, denominator) in sorted(self.kpis.items()):
            kpi = KPI_BY_CODE[code]
            documents[code] = {
                "label": kpi.label,
                "channel": kpi.channel,
                "kind": kpi.kind,
                "value": _text(kpi.value(numerator, denominator)),
                "numerator": numerator,
                "denominator": denominator,
            }
        return documents

    def document(self) -> dict[str, Any]:
        """The edition-wide figures in exact canonical text (part of the fingerprint)."""
        return {
            "national": self.national.document(),
            "categories": {c: m.document() for c, m in sorted(self.categories.items())},
            "certified": self.certified.document(),
            "not_certified": self.not_certified.document(),
            "channels": {c: m.document() for c, m in sorted(self.channels.items())},
            "category_channels": {
                category: {c: m.document() for c, m in sorted(channels.items())}
                for category, channels in sorted(self.category_channels.items())
            },
            "channel_probes": dict(sorted(self.channel_probes.items())),
            "rankings": {
                category: [entry.document() for entry in ranking]
                for category, ranking in sorted(self.rankings.items())
            },
            "laureates": [
                {"category": entry.category, **entry.document()} for entry in self.laureates
            ],
            "kpis": self.kpi_documents(),
        }


def summarize(edition: int, lines: Iterable[StructureLine]) -> EditionSummary:
    scored = [line for line in lines if line.global_score is not None and line.category]
    by_category: dict[str, list[StructureLine]] = {}
    for line in scored:
        assert line.category is not None
        by_category.setdefault(line.category, []).append(line)
    kpis: dict[str, list[int]] = {}
    channel_probes: dict[str, int] = {}
    channels: dict[str, list[Decimal]] = {}
    for line in scored:
        add_tallies(kpis, line.kpis)
        for channel, count in line.channel_probes.items():
            channel_probes[channel] = channel_probes.get(channel, 0) + count
        for channel, score in line.channels.items():
            channels.setdefault(channel, []).append(score)
    rankings = {c: rank_category(c, members) for c, members in sorted(by_category.items())}
    return EditionSummary(
        edition=edition,
        structures=len(scored),
        national=_mean_of([line.global_score for line in scored if line.global_score is not None]),
        categories={
            c: _mean_of([m.global_score for m in members if m.global_score is not None])
            for c, members in by_category.items()
        },
        certified=_mean_of(
            [
                line.global_score
                for line in scored
                if line.certified and line.global_score is not None
            ]
        ),
        not_certified=_mean_of(
            [
                line.global_score
                for line in scored
                if not line.certified and line.global_score is not None
            ]
        ),
        channels={c: _mean_of(scores) for c, scores in channels.items()},
        category_channels={
            category: _channel_means(members) for category, members in by_category.items()
        },
        rankings=rankings,
        kpis=kpis,
        channel_probes=channel_probes,
        laureates=[entry for ranking in rankings.values() for entry in ranking if entry.rank == 1],
    )


def _channel_means(lines: list[StructureLine]) -> dict[str, Mean]:
    channels: dict[str, list[Decimal]] = {}
    for line in lines:
        for channel, score in line.channels.items():
            channels.setdefault(channel, []).append(score)
    return {c: _mean_of(scores) for c, scores in channels.items()}
