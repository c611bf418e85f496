"""The audit-ingest application: one method per command (get, act, save).

Registration's contract events arrive through `on_*` methods; each is idempotent, so a
redelivered or duplicated event changes nothing. Probes are recorded once per `probe_id`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from baro_audit_ingest.domain import (
    AuditEdition,
    Conflict,
    InvalidInput,
    NotFound,
    PanelStructure,
    Probe,
)
from baro_audit_ingest.planning import DEFAULT_AUDITOR_POOL, DEFAULT_CHANNEL_MIX
from baro_audit_ingest.referential import (
    Problem,
    ReferentialDocument,
    consistency_problems,
    default_referential,
    measure_problems,
)
from baro_chassis.errors import validation_problems
from baro_chassis.eventstore import TracedApplication, retry_on_conflict
from baro_chassis.membership import open_membership
from baro_chassis.service import Clock, utc_now
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel, Measures


@dataclass(frozen=True)
class ProbeSubmission:
    probe_id: UUID
    registration_id: UUID
    site_id: UUID
    channel: Channel
    auditor_id: str
    performed_at: datetime
    answers: dict[str, Any]
    measures: Measures

    def comparable(self) -> dict[str, Any]:
        return {
            "registration_id": self.registration_id,
            "site_id": self.site_id,
            "channel": self.channel.value,
            "auditor_id": self.auditor_id,
            "performed_at": self.performed_at.astimezone(UTC),
            "answers": self.answers,
            "measures": self.measures.model_dump(mode="json", exclude_none=True),
        }


@dataclass(frozen=True)
class FrozenEdition:
    """What a probe needs from its edition once the referential is frozen: it never changes."""

    edition: AuditEdition
    referential: ReferentialDocument


PLAN_CHUNK = 500
"""Structures planned per transaction at the close: each chunk is saved on its own, so that
a close of 40,000 structures is many short transactions, and a redelivered close resumes."""


class AuditApplication(TracedApplication):
    name = "audit_ingest"
    snapshotting_intervals = {AuditEdition: 50}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.clock = clock
        self._frozen: dict[int, FrozenEdition] = {}
        self._referentials: dict[tuple[int, int], ReferentialDocument] = {}
        self._edition_lock = threading.Lock()
        self.on_planned: list[Callable[[list[PanelStructure]], None]] = []
        """Called with the structures whose plans were just saved (the probe writer keeps
        them: their first probe then needs no read of the event store)."""
        self.edition_structures = open_membership(
            self,
            "edition_structures",
            legacy_topic="baro_audit_ingest.domain:AuditEdition.RegistrationAdmitted",
            member_attr="registration_id",
        )
        """Edition id → the registration ids of its structures, which the edition counts."""

    # --- registration's events ----------------------------------------------------------

    def on_edition_opened(self, opened: reg.EditionOpened) -> bool:
        def attempt() -> bool:
            if self.find(AuditEdition, AuditEdition.create_id(opened.edition)) is not None:
                return False
            edition = AuditEdition(
                year=opened.edition,
                audit_window_start=opened.audit_window_start,
                audit_window_end=opened.audit_window_end,
                channel_mix={c.value: n for c, n in DEFAULT_CHANNEL_MIX.items()},
                seed=str(opened.edition),
                auditors=list(DEFAULT_AUDITOR_POOL),
            )
            edition.publish_referential(default_referential(), opened.occurred_at)
            self.save(edition)
            return True

        with self._edition_lock:
            return retry_on_conflict(attempt)

    def on_structure_registered(self, registered: reg.StructureRegistered) -> bool:
        """Keep the structure, listed in its edition; the edition itself is not written."""

        def attempt() -> bool:
            edition_id = self.existing_edition_id(registered.edition)
            structure_id = PanelStructure.create_id(registered.registration_id)
            if self.find(PanelStructure, structure_id) is not None:
                return False
            structure = PanelStructure(
                registration_id=registered.registration_id,
                year=registered.edition,
                name=registered.structure_name,
                category=registered.category.value,
                participation=registered.participation.value,
                physical_visit=registered.options.physical_visit,
                in_panel=registered.status is reg.RegistrationStatus.IN_PANEL,
                sites=[_site(s) for s in registered.sites],
            )
            self.edition_structures.add(edition_id, registered.registration_id)
            self.save(structure)
            return True

        return retry_on_conflict(attempt)

    def on_site_added(self, added: reg.SiteAdded) -> bool:
        def attempt() -> bool:
            structure = self.structure(added.edition, added.registration_id)
            if not structure.add_site(_site(added.site)):
                return False
            self.save(structure)
            return True

        return retry_on_conflict(attempt)

    def on_free_place_decided(self, decided: reg.FreePlaceDecided) -> bool:
        if decided.outcome is not reg.FreePlaceOutcome.GRANTED:
            return False
        return self._join_panel(decided.edition, decided.registration_id, "free", False, True)

    def on_switched_to_paid(self, switched: reg.SwitchedToPaid) -> bool:
        return self._join_panel(
            switched.edition,
            switched.registration_id,
            switched.participation.value,
            switched.options.physical_visit,
            False,
        )

    def _join_panel(
        self,
        year: int,
        registration_id: UUID,
        participation: str,
        physical_visit: bool,
        at_close: bool,
    ) -> bool:
        """Join the panel; after the close, with a plan issued at once: a free place's,
        decided by the close, dated from the close."""

        def attempt() -> bool:
            edition = self.edition(year)
            structure = self.structure(year, registration_id)
            joined = structure.join_panel(participation, physical_visit)
            closed_at = edition.registration_closed_at
            planned = closed_at is not None and structure.issue_plan(
                edition, closed_at if at_close else self.clock()
            )
            if joined or planned:
                self.save(structure)
            return joined or planned

        return retry_on_conflict(attempt)

    def on_registration_closed(self, closed: reg.RegistrationClosed) -> int:
        """Record the close, then issue the plan of every structure in the panel, a chunk
        per transaction; the free places granted join after, each with its own event.

        A redelivered close (or one resumed after a crash) plans only who has no plan yet.
        Closes published before the counts list the granted registrations: they join here.
        """

        def record_close() -> AuditEdition:
            edition = self.edition(closed.edition)
            if edition.close_registration(closed.closed_at):
                self.save(edition)
            return edition

        with self._edition_lock:
            edition = retry_on_conflict(record_close)
        granted = set(closed.granted)
        members = self.edition_structures.members(edition.id)
        planned = 0
        for start in range(0, len(members), PLAN_CHUNK):
            chunk = members[start : start + PLAN_CHUNK]
            planned += len(self._plan_chunk(edition, chunk, granted, closed.closed_at))
        return planned

    def _plan_chunk(
        self,
        edition: AuditEdition,
        registration_ids: list[UUID],
        granted: set[UUID],
        closed_at: datetime,
    ) -> list[PanelStructure]:
        def attempt() -> list[PanelStructure]:
            changed = []
            for registration_id in registration_ids:
                structure = self.find(PanelStructure, PanelStructure.create_id(registration_id))
                if structure is None:
                    continue  # listed by a save that failed
                joined = registration_id in granted and structure.join_panel("free", False)
                if structure.issue_plan(edition, closed_at) or joined:
                    changed.append(structure)
            self.save(*changed)
            return [s for s in changed if s.plan is not None]

        planned = retry_on_conflict(attempt)
        for listener in self.on_planned:
            listener(planned)
        return planned

    # --- referentials and plan settings -------------------------------------------------

    def publish_referential(self, year: int, document: ReferentialDocument) -> AuditEdition:
        def attempt() -> AuditEdition:
            edition = self.edition(year)
            if edition.publish_referential(document, self.clock()):
                self.save(edition)
            return edition

        with self._edition_lock:
            return retry_on_conflict(attempt)

    def referential(self, year: int, version: int | None = None) -> tuple[AuditEdition, int]:
        edition = self.edition(year)
        version = version or edition.referential_version
        if not 1 <= version <= edition.referential_version:
            raise NotFound(
                f"edition {year} has referential versions 1 to {edition.referential_version}"
            )
        return edition, version

    def change_plan_settings(
        self, year: int, channel_mix: dict[str, int], seed: str, auditors: list[str]
    ) -> AuditEdition:
        def attempt() -> AuditEdition:
            edition = self.edition(year)
            if edition.change_plan_settings(channel_mix, seed, auditors):
                self.save(edition)
            return edition

        with self._edition_lock:
            return retry_on_conflict(attempt)

    # --- plans and probes ---------------------------------------------------------------

    def record_probe(
        self, year: int, submission: ProbeSubmission, recorded_by: str
    ) -> tuple[Probe, bool, PanelStructure | None]:
        """Record one probe on its own: the probe, whether it is new (False: the same probe
        again) and its structure as saved (None when nothing was saved).

        `ProbeWriter` records concurrent probes in shared commits, and uses this for the rest.
        """

        def attempt() -> tuple[Probe, bool, PanelStructure | None]:
            existing = self.existing_probe(year, submission)
            if existing is not None:
                return existing, False, None
            frozen = self._frozen.get(year)
            edition = frozen.edition if frozen else self.edition(year)
            document = frozen.referential if frozen else self._document(edition, None)
            structure = self.structure(year, submission.registration_id)
            probe = self._new_probe(edition, document, structure, submission, recorded_by)
            if frozen is None:
                edition.freeze(probe.recorded_at)
                self.save(edition, structure, probe)
                self._frozen[year] = FrozenEdition(edition, document)
            else:
                self.save(structure, probe)
            return probe, True, structure

        return retry_on_conflict(attempt)

    def existing_probe(self, year: int, submission: ProbeSubmission) -> Probe | None:
        """The probe already recorded under this probe_id if it is this same submission;
        None if there is none; a conflict if another content holds that probe_id."""
        existing = self.find(Probe, Probe.create_id(submission.probe_id))
        return None if existing is None else self.resubmission_of(existing, year, submission)

    def is_frozen(self, year: int) -> bool:
        """Whether this process knows the edition's referential is frozen (after a probe)."""
        return year in self._frozen

    def stage_probe(
        self,
        year: int,
        submission: ProbeSubmission,
        recorded_by: str,
        structure: PanelStructure,
    ) -> Probe:
        """A new probe for an edition whose referential is frozen, assigned to its slot in
        `structure`; nothing is saved: the caller saves the probe and the structure."""
        frozen = self._frozen[year]
        return self._new_probe(
            frozen.edition, frozen.referential, structure, submission, recorded_by
        )

    def _new_probe(
        self,
        edition: AuditEdition,
        document: ReferentialDocument,
        structure: PanelStructure,
        submission: ProbeSubmission,
        recorded_by: str,
    ) -> Probe:
        slot = self._check_submission(edition, structure, document, submission)
        probe = Probe(
            probe_id=submission.probe_id,
            year=edition.year,
            registration_id=submission.registration_id,
            site_id=submission.site_id,
            channel=submission.channel.value,
            slot=slot,
            auditor_id=submission.auditor_id,
            performed_at=submission.performed_at.astimezone(UTC),
            referential_version=edition.referential_version,
            answers=submission.answers,
            measures=submission.measures.model_dump(mode="json", exclude_none=True),
            recorded_at=self.clock(),
            recorded_by=recorded_by,
        )
        structure.assign(slot, submission.probe_id)
        return probe

    def resubmission_of(self, existing: Probe, year: int, submission: ProbeSubmission) -> Probe:
        if existing.year == year and existing.same_submission(submission.comparable()):
            return existing
        raise Conflict(
            f"probe {submission.probe_id} was already recorded with a different content: "
            "a probe is immutable; send a correction, or use a new probe_id for a new probe",
            "probe_id",
        )

    def _check_submission(
        self,
        edition: AuditEdition,
        structure: PanelStructure,
        document: ReferentialDocument,
        submission: ProbeSubmission,
    ) -> int:
        problems: list[Problem] = []
        if structure.site(submission.site_id) is None:
            known = ", ".join(str(s["site_id"]) for s in structure.sites)
            problems.append(
                (
                    "site_id",
                    f"site {submission.site_id} is not one of this registration's ({known})",
                )
            )
        if not edition.in_window(submission.performed_at):
            problems.append(
                (
                    "performed_at",
                    f"{submission.performed_at.isoformat()} is outside the audit window of "
                    f"edition {edition.year} ({edition.audit_window_start.isoformat()} to "
                    f"{edition.audit_window_end.isoformat()})",
                )
            )
        problems += document.answer_problems(submission.channel, submission.answers)
        problems += measure_problems(submission.channel, submission.measures)
        problems += consistency_problems(document, submission.answers, submission.measures)
        structure.planned_slots(submission.channel)  # not audited there: refused before the rest
        if problems:
            raise InvalidInput.of(problems)
        return structure.open_slot(submission.channel)

    def correct_probe(
        self,
        year: int,
        probe_id: UUID,
        *,
        answers: dict[str, Any],
        measures: dict[str, Any],
        reason: str,
        corrected_by: str,
    ) -> Probe:
        def attempt() -> Probe:
            probe = self.probe(year, probe_id)
            edition = self.edition(year)
            document = self._document(edition, probe.referential_version)
            merged_measures = {**probe.measures, **measures}
            try:
                parsed = Measures.model_validate(merged_measures)
            except ValidationError as exc:
                problems = validation_problems(exc.errors())
                raise InvalidInput.of([(f"measures.{f}", r) for f, r in problems]) from exc
            channel = Channel(probe.channel)
            problems = measure_problems(channel, parsed)
            problems += consistency_problems(document, {**probe.answers, **answers}, parsed)
            if problems:
                raise InvalidInput.of(problems)
            corrected = probe.correct(
                document=document,
                answers=answers,
                measures=measures,
                reason=reason,
                corrected_by=corrected_by,
                at=self.clock(),
            )
            if corrected:
                self.save(probe)
            return probe

        return retry_on_conflict(attempt)

    def probe(self, year: int, probe_id: UUID) -> Probe:
        probe = self.find(Probe, Probe.create_id(probe_id))
        if probe is None or probe.year != year:
            self.edition(year)
            raise NotFound(f"probe {probe_id} does not exist in edition {year}")
        return probe

    def probes_of(self, year: int, registration_id: UUID) -> list[Probe]:
        structure = self.structure(year, registration_id)
        found = (
            self.find(Probe, Probe.create_id(pid)) for _, pid in sorted(structure.probes.items())
        )
        return [p for p in found if p is not None]

    # --- loading ------------------------------------------------------------------------

    def edition(self, year: int) -> AuditEdition:
        edition = self.find(AuditEdition, AuditEdition.create_id(year))
        if edition is None:
            raise _unknown_edition(year)
        return edition

    def existing_edition_id(self, year: int) -> UUID:
        """The edition's id if it exists, read without loading it (its referentials)."""
        edition_id = AuditEdition.create_id(year)
        if not self.recorder.select_events(edition_id, limit=1):
            raise _unknown_edition(year)
        return edition_id

    def structure_count(self, edition: AuditEdition) -> int:
        return self.edition_structures.count(edition.id)

    def structure(self, year: int, registration_id: UUID) -> PanelStructure:
        structure = self.find(PanelStructure, PanelStructure.create_id(registration_id))
        if structure is None or structure.year != year:
            self.edition(year)
            raise NotFound(
                f"registration {registration_id} is unknown in edition {year}",
                "registration_id",
            )
        return structure

    def _document(self, edition: AuditEdition, version: int | None) -> ReferentialDocument:
        version = version or edition.referential_version
        key = (edition.year, version)
        if key not in self._referentials:
            self._referentials[key] = edition.referential(version)
        return self._referentials[key]


def _site(site: reg.Site) -> dict[str, Any]:
    return {"site_id": site.site_id, "name": site.name, "kind": site.kind.value}


def _unknown_edition(year: int) -> NotFound:
    return NotFound(
        f"edition {year} is unknown to audit-ingest: editions are opened in the "
        "registration service, and arrive here from its events"
    )
