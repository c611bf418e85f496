"""The audit-ingest domain: editions' referentials and plan settings, panel structures and
their plans, and probes, which are immutable once recorded (a correction is a new event).

No I/O here. Aggregate state holds plain JSON-able values so events store as they are.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from baro_audit_ingest.planning import plan_probes, plan_seed
from baro_audit_ingest.referential import Problem, ReferentialDocument
from baro_contracts.audit_v1 import Channel

NAMESPACE = UUID("2f0b7a61-3c9e-4f57-9d0e-7a4c5b1e8d23")


class AuditError(Exception):
    """A refused command: what is wrong and, when known, which fields."""

    status = 400
    code = "refused"

    def __init__(
        self, message: str, field: str | None = None, problems: list[Problem] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.problems = problems or ([(field, message)] if field else [])


class InvalidInput(AuditError):
    status = 422
    code = "invalid_request"

    @classmethod
    def of(cls, problems: list[Problem]) -> InvalidInput:
        summary = "; ".join(f"{field}: {reason}" for field, reason in problems[:5])
        if len(problems) > 5:
            summary += f"; and {len(problems) - 5} more"
        return cls(summary, problems=problems)


class Conflict(AuditError):
    status = 409
    code = "conflict"


class NotFound(AuditError):
    status = 404
    code = "not_found"


class AuditEdition(Aggregate):
    """An edition as audit-ingest sees it: its audit window, its referential versions (the
    latest one is used, and frozen by the first probe), its plan settings and its close.

    A registration does not write it (the application's membership table lists and counts
    its structures), so that it stays as small at 40,000 structures as at 4, and a
    registration does not load and save it.
    """

    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots taken when the edition listed its registrations."""
        state["structure_count"] = len(state.pop("registration_ids"))

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Snapshots taken when the edition counted its registrations."""
        state.pop("structure_count", None)

    @staticmethod
    def create_id(year: int) -> UUID:
        return uuid5(NAMESPACE, f"edition/{year}")

    @event("Opened")
    def __init__(
        self,
        *,
        year: int,
        audit_window_start: date,
        audit_window_end: date,
        channel_mix: dict[str, int],
        seed: str,
        auditors: list[str],
    ) -> None:
        self.year = year
        self.audit_window_start = audit_window_start
        self.audit_window_end = audit_window_end
        self.channel_mix = channel_mix
        self.seed = seed
        self.auditors = auditors
        self.referentials: list[dict[str, Any]] = []
        self.frozen_at: datetime | None = None
        self.registration_closed_at: datetime | None = None

    @event("RegistrationAdmitted")
    def _admitted(self, registration_id: UUID) -> None:
        """Recorded at each registration before structures were listed in the membership
        table; read back from an older store it changes nothing (the table was filled from it)."""

    @property
    def referential_version(self) -> int:
        return len(self.referentials)

    def referential(self, version: int | None = None) -> ReferentialDocument:
        if not self.referentials:
            raise NotFound(f"edition {self.year} has no referential yet")
        version = version or self.referential_version
        return ReferentialDocument.from_json(self.referentials[version - 1]["document"])

    def publish_referential(self, document: ReferentialDocument, at: datetime) -> bool:
        """Publish `document` as the next version; False when it is the latest already (the
        same request again: a retry answers as the first did, frozen since or not)."""
        if self.referentials and self.referentials[-1]["document"] == document.to_json():
            return False
        if self.frozen_at is not None:
            raise Conflict(
                f"the referential of edition {self.year} has been frozen since its first probe "
                f"({self.frozen_at.isoformat()}): publish the change for a later edition"
            )
        if problems := document.problems():
            raise InvalidInput.of(problems)
        self._referential_published(document=document.to_json(), published_at=at)
        return True

    @event("ReferentialPublished")
    def _referential_published(self, document: dict[str, Any], published_at: datetime) -> None:
        self.referentials.append(
            {
                "version": len(self.referentials) + 1,
                "document": document,
                "published_at": published_at,
            }
        )

    def freeze(self, at: datetime) -> None:
        """Called with the edition's first probe: its referential version is now final."""
        if self.frozen_at is None:
            self._frozen(frozen_at=at)

    @event("ReferentialFrozen")
    def _frozen(self, frozen_at: datetime) -> None:
        self.frozen_at = frozen_at

    def change_plan_settings(
        self, channel_mix: dict[str, int], seed: str, auditors: list[str]
    ) -> bool:
        """False when the settings are these already (the same request again)."""
        if (channel_mix, seed, auditors) == (self.channel_mix, self.seed, self.auditors):
            return False
        if self.registration_closed_at is not None:
            raise Conflict(
                f"the plans of edition {self.year} were issued when registration closed; "
                "their settings can no longer change"
            )
        problems: list[Problem] = []
        for channel, count in channel_mix.items():
            if channel == Channel.VISIT.value:
                problems.append(
                    ("channel_mix.visit", "the visit comes from the structure's option")
                )
            elif count < 0:
                problems.append((f"channel_mix.{channel}", "a count cannot be negative"))
        if not 1 <= sum(channel_mix.values()) <= 40:
            problems.append(("channel_mix", "plan between 1 and 40 probes (the barometer uses 13)"))
        if len(set(auditors)) != len(auditors) or not auditors:
            problems.append(("auditors", "list at least one auditor, each once"))
        if problems:
            raise InvalidInput.of(problems)
        self._plan_settings_changed(channel_mix=channel_mix, seed=seed, auditors=auditors)
        return True

    @event("PlanSettingsChanged")
    def _plan_settings_changed(
        self, channel_mix: dict[str, int], seed: str, auditors: list[str]
    ) -> None:
        self.channel_mix = channel_mix
        self.seed = seed
        self.auditors = auditors

    def close_registration(self, at: datetime) -> bool:
        """Record the close once; False when it was already recorded (a redelivery)."""
        if self.registration_closed_at is not None:
            return False
        self._registration_closed(closed_at=at)
        return True

    @event("RegistrationClosed")
    def _registration_closed(self, closed_at: datetime) -> None:
        self.registration_closed_at = closed_at

    def in_window(self, performed_at: datetime) -> bool:
        return self.audit_window_start <= performed_at.date() <= self.audit_window_end


class PanelStructure(Aggregate):
    """A registration as audit-ingest sees it: its sites and options, whether it is in the
    panel, its plan, and which probe fulfilled which slot of the plan."""

    @staticmethod
    def create_id(registration_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"structure/{registration_id}")

    @event("Registered")
    def __init__(
        self,
        *,
        registration_id: UUID,
        year: int,
        name: str,
        category: str,
        participation: str,
        physical_visit: bool,
        in_panel: bool,
        sites: list[dict[str, Any]],
    ) -> None:
        self.registration_id = registration_id
        self.year = year
        self.name = name
        self.category = category
        self.participation = participation
        self.physical_visit = physical_visit
        self.in_panel = in_panel
        self.sites = sites
        self.plan: list[dict[str, Any]] | None = None
        self.plan_seed: str | None = None
        self.channel_mix: dict[str, int] = {}
        self.probes: dict[int, UUID] = {}

    def add_site(self, site: dict[str, Any]) -> bool:
        if any(s["site_id"] == site["site_id"] for s in self.sites):
            return False
        self._site_added(site=site)
        return True

    @event("SiteAdded")
    def _site_added(self, site: dict[str, Any]) -> None:
        self.sites.append(site)

    def join_panel(self, participation: str, physical_visit: bool) -> bool:
        if self.in_panel and self.participation == participation:
            return False
        self._joined_panel(participation=participation, physical_visit=physical_visit)
        return True

    @event("JoinedPanel")
    def _joined_panel(self, participation: str, physical_visit: bool) -> None:
        self.in_panel = True
        self.participation = participation
        self.physical_visit = physical_visit

    def issue_plan(self, edition: AuditEdition, at: datetime) -> bool:
        """Plan this structure's probes from the edition's settings; once only."""
        if self.plan is not None or not self.in_panel:
            return False
        seed = plan_seed(edition.seed, self.registration_id)
        mix = {Channel(c): n for c, n in edition.channel_mix.items()}
        probes = plan_probes(
            seed=seed,
            sites=self.sites,
            physical_visit=self.physical_visit and self.participation == "paid",
            window_start=edition.audit_window_start,
            window_end=edition.audit_window_end,
            channel_mix=mix,
            auditors=edition.auditors,
        )
        self._plan_issued(seed=seed, channel_mix=edition.channel_mix, probes=probes, issued_at=at)
        return True

    @event("PlanIssued")
    def _plan_issued(
        self,
        seed: str,
        channel_mix: dict[str, int],
        probes: list[dict[str, Any]],
        issued_at: datetime,
    ) -> None:
        self.plan = probes
        self.plan_seed = seed
        self.channel_mix = channel_mix
        self.plan_issued_at = issued_at

    def site(self, site_id: UUID) -> dict[str, Any] | None:
        return next((s for s in self.sites if s["site_id"] == site_id), None)

    def planned_slots(self, channel: Channel) -> list[int]:
        """The plan's slots on `channel`; refuses a structure not audited on it."""
        if not self.in_panel:
            raise Conflict(
                f"registration {self.registration_id} is not in the panel of edition {self.year} "
                "(a free registration that was declined, or still awaiting its free place)"
            )
        if self.plan is None:
            raise Conflict(
                f"registration {self.registration_id} has no audit plan yet: plans are issued "
                "when the edition's registration closes"
            )
        slots: list[int] = [p["slot"] for p in self.plan if p["channel"] == channel.value]
        if not slots:
            why = (
                "the physical visit is a paid option this structure did not take"
                if channel is Channel.VISIT
                else "the edition's channel mix has no probe on it"
            )
            raise InvalidInput(
                f"this structure is not audited on the {channel.value} channel: {why}", "channel"
            )
        return slots

    def open_slot(self, channel: Channel) -> int:
        """The first slot of `channel` no probe has fulfilled yet; refuses one too many."""
        slots = self.planned_slots(channel)
        free = [slot for slot in slots if slot not in self.probes]
        if not free:
            raise Conflict(
                f"the plan of registration {self.registration_id} has {len(slots)} "
                f"{channel.value} probe(s) and all are recorded: no more are planned",
                "channel",
            )
        return free[0]

    def assign(self, slot: int, probe_id: UUID) -> None:
        self._assigned(slot=slot, probe_id=probe_id)

    @event("ProbeAssigned")
    def _assigned(self, slot: int, probe_id: UUID) -> None:
        self.probes[slot] = probe_id


class Probe(Aggregate):
    """One mystery contact as recorded, and every correction made to it since."""

    @staticmethod
    def create_id(probe_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"probe/{probe_id}")

    @event("Recorded")
    def __init__(
        self,
        *,
        probe_id: UUID,
        year: int,
        registration_id: UUID,
        site_id: UUID,
        channel: str,
        slot: int,
        auditor_id: str,
        performed_at: datetime,
        referential_version: int,
        answers: dict[str, Any],
        measures: dict[str, Any],
        recorded_at: datetime,
        recorded_by: str,
    ) -> None:
        self.probe_id = probe_id
        self.year = year
        self.registration_id = registration_id
        self.site_id = site_id
        self.channel = channel
        self.slot = slot
        self.auditor_id = auditor_id
        self.performed_at = performed_at
        self.referential_version = referential_version
        self.recorded_answers = answers  # as recorded: corrections never change these
        self.recorded_measures = measures
        self.answers = dict(answers)  # current: each correction applied
        self.measures = dict(measures)
        self.recorded_at = recorded_at
        self.recorded_by = recorded_by
        self.corrections: list[dict[str, Any]] = []

    def same_submission(self, submitted: dict[str, Any]) -> bool:
        """Whether a resubmission carries exactly what was recorded (a client retry)."""
        return submitted == self.submission()

    def submission(self) -> dict[str, Any]:
        return {
            "registration_id": self.registration_id,
            "site_id": self.site_id,
            "channel": self.channel,
            "auditor_id": self.auditor_id,
            "performed_at": self.performed_at,
            "answers": self.recorded_answers,
            "measures": self.recorded_measures,
        }

    @property
    def revision(self) -> int:
        return 1 + len(self.corrections)

    def correct(
        self,
        *,
        document: ReferentialDocument,
        answers: dict[str, Any],
        measures: dict[str, Any],
        reason: str,
        corrected_by: str,
        at: datetime,
    ) -> bool:
        """Record the correction; False when it is the last one made, sent again."""
        if not reason.strip():
            raise InvalidInput("say why the probe is corrected", "reason")
        if self._is_last_correction(answers, measures, reason.strip(), corrected_by):
            return False
        if not answers and not measures:
            raise InvalidInput("a correction changes at least one answer or measure", "answers")
        channel = Channel(self.channel)
        problems: list[Problem] = []
        for code in answers:
            item = document.by_code.get(code)
            if item is None or item.channel is not channel:
                problems.append(
                    (f"answers.{code}", f"{code} is not an item of this {channel.value} probe")
                )
        problems += document.answer_problems(channel, {**self.answers, **answers})
        if problems:
            raise InvalidInput.of(list(dict.fromkeys(problems)))
        changed = {c: v for c, v in answers.items() if self.answers.get(c) != v}
        changed_measures = {m: v for m, v in measures.items() if self.measures.get(m) != v}
        if not changed and not changed_measures:
            raise Conflict("the correction changes nothing: every value is already as given")
        self._corrected(
            answers=changed,
            measures=changed_measures,
            reason=reason.strip(),
            corrected_by=corrected_by,
            corrected_at=at,
        )
        return True

    def _is_last_correction(
        self, answers: dict[str, Any], measures: dict[str, Any], reason: str, by: str
    ) -> bool:
        """Whether this correction is the last one made, by the same person for the same
        reason, and changes nothing now: a client retrying what it already sent."""
        if not self.corrections:
            return False
        last = self.corrections[-1]
        return (
            (last["reason"], last["corrected_by"]) == (reason, by)
            and set(last["answers"]) <= set(answers)
            and set(last["measures"]) <= set(measures)
            and all(self.answers.get(c) == v for c, v in answers.items())
            and all(self.measures.get(m) == v for m, v in measures.items())
        )

    @event("Corrected")
    def _corrected(
        self,
        answers: dict[str, Any],
        measures: dict[str, Any],
        reason: str,
        corrected_by: str,
        corrected_at: datetime,
    ) -> None:
        self.corrections.append(
            {
                "revision": self.revision + 1,
                "answers": answers,
                "measures": measures,
                "reason": reason,
                "corrected_by": corrected_by,
                "corrected_at": corrected_at,
            }
        )
        self.answers = {**self.answers, **answers}
        self.measures = {**self.measures, **measures}
