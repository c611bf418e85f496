"""A structure's results from its facts: its scores (by the rules), its progress against
its plan and its KPI counts. Pure: the live projection, the publication and the replay all
call `structure_result`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from baro_scoring.facts import UUID_ORDER, EditionFacts, Profile, StructureFacts
from baro_scoring.kpis import tally_kpis
from baro_scoring.rules import StructureScores, score_structure


@dataclass(frozen=True)
class StructureResult:
    registration_id: UUID
    profile: Profile | None
    planned: int | None
    """Probes in its plan; None before the plan has arrived."""
    probes: int
    complete: bool
    """Every planned probe is in (only complete structures are ranked)."""
    channel_probes: dict[str, int]
    scores: StructureScores
    kpis: dict[str, list[int]]
    """KPI code → [numerator, denominator] over its probes."""


def structure_result(edition: EditionFacts, facts: StructureFacts) -> StructureResult:
    current = facts.current_probes()
    scores = score_structure(
        (edition.referential(probe.referential_version), answers) for probe, answers, _ in current
    )
    channel_probes: dict[str, int] = {}
    for probe, _, _ in current:
        channel_probes[probe.channel] = channel_probes.get(probe.channel, 0) + 1
    plan = facts.plan
    filled = {probe.slot for probe, _, _ in current}
    return StructureResult(
        registration_id=facts.registration_id,
        profile=facts.profile,
        planned=len(plan.slots) if plan else None,
        probes=len(current),
        complete=plan is not None and all(slot in filled for slot in plan.slots),
        channel_probes=channel_probes,
        scores=scores,
        kpis=tally_kpis((probe.channel, measures) for probe, _, measures in current),
    )


def edition_results(edition: EditionFacts) -> Iterator[StructureResult]:
    """Every structure registration or audit-ingest told us of, in registration id order,
    each computed when it is taken."""
    for registration_id in sorted(edition.structures, key=UUID_ORDER):
        yield structure_result(edition, edition.structures[registration_id])
