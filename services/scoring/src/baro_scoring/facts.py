"""The facts an edition's results are computed from: the registration and audit events
scoring has received (parsed here, from a message or a stored row), gathered per structure.
The results are a pure function of this set of events, whatever order they came in and
however often: so redelivered or duplicated messages, live consumption and a replay years
later all give the same numbers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple
from uuid import UUID

from pydantic import ValidationError

from baro_contracts import audit_v1 as audit
from baro_contracts import registration_v1 as reg
from baro_contracts.base import ContractEvent
from baro_contracts.catalog import event_class
from baro_scoring.rules import Referential

UUID_ORDER = attrgetter("int")
"""A sort key giving UUIDs their own order (faster than comparing them)."""


def producer_position(event_id: str) -> tuple[str, int]:
    """`registration:42` → ("registration", 42): the event's place in its producer's log."""
    producer, _, position = event_id.rpartition(":")
    return producer, int(position)


NOT_A_CONTRACT_EVENT = (KeyError, ValueError, ValidationError)
"""What `parse_fact` raises for a message that is not a contract event."""


@dataclass(frozen=True)
class Fact:
    """A received contract event, and its JSON as received (stored as it is)."""

    event: ContractEvent
    body: str

    @property
    def registration_id(self) -> UUID | None:
        value = getattr(self.event, "registration_id", None)
        return value if isinstance(value, UUID) else None

    def row(self, *, held: bool) -> tuple[Any, ...]:
        """The fact as a row of the read model's `facts` table (`projections.py`)."""
        event = self.event
        producer, position = producer_position(event.event_id)
        return (
            event.event_id,
            producer,
            position,
            event.edition,
            event.type_name(),
            self.registration_id,
            self.body,
            held,
        )


def event_type_of(subject: str) -> str:
    """`audit.v1.2027.probe_recorded` → `audit.v1.probe_recorded`."""
    service, version, _, name = subject.split(".", 3)
    return f"{service}.{version}.{name}"


def parse_fact(
    body: bytes | str, subject: str | None = None, *, event_type: str | None = None
) -> Fact:
    """A contract event from its JSON, of the type its subject (or `event_type`) names when
    given (the body must then say the same); one of NOT_A_CONTRACT_EVENT when it is not one."""
    if event_type is None:
        event_type = event_type_of(subject) if subject else json.loads(body).get("event_type")
    event = event_class(str(event_type)).model_validate_json(body)
    return Fact(event, body.decode() if isinstance(body, bytes) else body)


def _position(event: ContractEvent) -> int:
    return producer_position(event.event_id)[1]


def _keep_earliest(facts: dict[Any, Any], key: Any, fact: Any, position: int) -> None:
    known = facts.get(key)
    if known is None or position < known.position:
        facts[key] = fact


def _kept(values: dict[str, Any], *, taken_only: bool = False) -> dict[str, Any]:
    """Answers or measures as kept: their names (and text values) shared by every probe, so
    that a national edition's facts fit in memory; with `taken_only`, without the measures
    a probe did not take (None: the same as absent to the KPIs)."""
    return {
        sys.intern(name): sys.intern(value) if type(value) is str else value
        for name, value in values.items()
        if not (taken_only and value is None)
    }


@dataclass(frozen=True)
class Profile:
    """What registration says of a structure, as of its latest event."""

    name: str
    category: str
    participation: str
    certified: bool
    status: str


class RegistrationFact(NamedTuple):
    """What a registration event says of the structure's profile (a registration: all of
    it; a later event: what it changes)."""

    position: int
    registers: bool
    profile: dict[str, Any]


class PlanFact(NamedTuple):
    position: int
    slots: tuple[int, ...]


class ProbeFact(NamedTuple):
    position: int
    probe_id: UUID
    slot: int
    channel: str
    referential_version: int
    answers: dict[str, Any]
    measures: dict[str, Any]


class CorrectionFact(NamedTuple):
    position: int
    answers: dict[str, Any]
    measures: dict[str, Any]


def registration_fact(event: ContractEvent) -> RegistrationFact:
    position = _position(event)
    match event:
        case reg.StructureRegistered():
            profile = {
                "name": event.structure_name,
                "category": event.category.value,
                "participation": event.participation.value,
                "certified": bool(event.certifications),
                "status": event.status.value,
            }
            return RegistrationFact(position, True, profile)
        case reg.FreePlaceDecided():
            return RegistrationFact(position, False, {"status": event.status.value})
        case reg.SwitchedToPaid():
            changes = {"participation": event.participation.value, "status": event.status.value}
            return RegistrationFact(position, False, changes)
    return RegistrationFact(position, False, {})


@dataclass
class StructureFacts:
    """What scoring keeps of a structure's events."""

    registration_id: UUID
    registration: list[RegistrationFact] = field(default_factory=list)
    plan: PlanFact | None = None
    probes: dict[UUID, ProbeFact] = field(default_factory=dict)
    corrections: dict[UUID, dict[int, CorrectionFact]] = field(default_factory=dict)

    @property
    def profile(self) -> Profile | None:
        """Registration's events folded in their producer's order; None before the structure's
        registration has arrived."""
        profile: dict[str, Any] | None = None
        for fact in sorted(self.registration):
            if fact.registers:
                profile = dict(fact.profile)
            elif profile is not None:
                profile.update(fact.profile)
        return Profile(**profile) if profile is not None else None

    def current_probes(self) -> list[tuple[ProbeFact, dict[str, Any], dict[str, Any]]]:
        """Each probe with its answers and measures as last corrected, in probe id order
        (a probe never corrected gives its own answers: not to be changed)."""
        current = []
        for probe_id in sorted(self.probes, key=UUID_ORDER):
            probe = self.probes[probe_id]
            corrections = self.corrections.get(probe_id)
            if not corrections:
                current.append((probe, probe.answers, probe.measures))
                continue
            answers = dict(probe.answers)
            measures = dict(probe.measures)
            for revision in sorted(corrections):
                answers.update(corrections[revision].answers)
                measures.update(corrections[revision].measures)
            current.append((probe, answers, measures))
        return current


@dataclass
class EditionFacts:
    edition: int
    referentials: dict[int, audit.ReferentialPublished] = field(default_factory=dict)
    structures: dict[UUID, StructureFacts] = field(default_factory=dict)
    _referentials: dict[int, Referential] = field(default_factory=dict, repr=False)

    def structure(self, registration_id: UUID) -> StructureFacts:
        facts = self.structures.get(registration_id)
        if facts is None:
            facts = self.structures[registration_id] = StructureFacts(registration_id)
        return facts

    def referential(self, referential_version: int) -> Referential:
        """That referential version's items (none if it has not arrived)."""
        referential = self._referentials.get(referential_version)
        if referential is None:
            published = self.referentials.get(referential_version)
            referential = Referential(published.items if published else [])
            self._referentials[referential_version] = referential
        return referential

    def add(self, event: ContractEvent) -> None:
        """Take one event in; events scoring does not use are ignored. Should the producer
        ever send two events for one fact, the earlier in its log wins, whatever the order
        they arrive in."""
        match event:
            case audit.ReferentialPublished():
                known = self.referentials.get(event.referential_version)
                if known is None or _position(event) < _position(known):
                    self.referentials[event.referential_version] = event
                    self._referentials.pop(event.referential_version, None)
            case audit.PlanIssued():
                facts = self.structure(event.registration_id)
                plan = PlanFact(_position(event), tuple(p.slot for p in event.probes))
                if facts.plan is None or plan.position < facts.plan.position:
                    facts.plan = plan
            case audit.ProbeRecorded():
                probe = ProbeFact(
                    _position(event),
                    event.probe_id,
                    event.slot,
                    event.channel.value,
                    event.referential_version,
                    _kept(event.answers),
                    _kept(vars(event.measures), taken_only=True),
                )
                probes = self.structure(event.registration_id).probes
                _keep_earliest(probes, event.probe_id, probe, probe.position)
            case audit.ProbeCorrected():
                correction = CorrectionFact(
                    _position(event), _kept(event.answers), _kept(event.measures)
                )
                corrections = self.structure(event.registration_id).corrections
                revisions = corrections.setdefault(event.probe_id, {})
                _keep_earliest(revisions, event.revision, correction, correction.position)
            case (
                reg.StructureRegistered()
                | reg.FreePlaceDecided()
                | reg.SwitchedToPaid()
                | reg.SiteAdded()
            ):
                registration = self.structure(event.registration_id).registration
                position = _position(event)
                if all(fact.position != position for fact in registration):
                    registration.append(registration_fact(event))

    def add_all(self, events: Iterable[ContractEvent]) -> EditionFacts:
        for event in events:
            self.add(event)
        return self
