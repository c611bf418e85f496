"""Group commit of probes: the probes that arrive while one commit runs share the next one.

Every commit to the event store is serialised by PostgreSQL (the notification log takes a
table lock), so one probe per transaction caps ingestion at the commit rate. One writer
thread instead takes every probe waiting in its queue, checks each against its structure's
plan (kept in memory after the writer's own saves), and saves them all in one transaction.

The common case reads nothing: a new probe_id is not looked up first. A probe_id already
stored makes the shared save fail on its unique key, and so does a structure another process
wrote meanwhile; then each probe of the batch is recorded on its own, with every read and the
usual retries. A refused probe is answered once its batch is committed (a refusal judged
against a batch that then fails is judged again), after checking it is not a resubmission.
A batch whose save fails leaves nothing behind: its structures are read afresh, so the retry
of its probes is judged against what is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from baro_audit_ingest.application import AuditApplication, ProbeSubmission
from baro_audit_ingest.domain import AuditError, PanelStructure, Probe

log = logging.getLogger(__name__)

Outcome = tuple[Probe, bool]


@dataclass
class PendingProbe:
    year: int
    submission: ProbeSubmission
    recorded_by: str
    carrier: dict[str, str]
    future: Future[Outcome] = field(default_factory=Future)


class ProbeWriter:
    def __init__(
        self, application: AuditApplication, max_batch: int = 256, cached_structures: int = 5000
    ) -> None:
        self.application = application
        self.max_batch = max_batch
        self.cached_structures = cached_structures
        self._queue: queue.SimpleQueue[PendingProbe | None] = queue.SimpleQueue()
        self._structures: OrderedDict[UUID, PanelStructure] = OrderedDict()
        # Structures just planned by this process: kept before their first probe arrives.
        self._planned: queue.SimpleQueue[list[PanelStructure]] = queue.SimpleQueue()
        application.on_planned.append(self._planned.put)
        self._thread = threading.Thread(target=self._run, name="probe-writer", daemon=True)
        self.batches = 0  # shared commits made

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def submit(
        self, year: int, submission: ProbeSubmission, recorded_by: str, carrier: dict[str, str]
    ) -> Future[Outcome]:
        pending = PendingProbe(year, submission, recorded_by, carrier)
        self._queue.put(pending)
        return pending.future

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is None:
                    stopping = True
                    break
                batch.append(pending)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[PendingProbe]) -> None:
        while not self._planned.empty():  # kept as saved: a later change fails the save
            for structure in self._planned.get_nowait():
                self._remember(structure.registration_id, structure)
        try:
            # An edition's first probe freezes its referential: it is recorded on its own.
            for pending in batch:
                if not self.application.is_frozen(pending.year):
                    self._write_alone(pending)
            try:
                self._write_together([p for p in batch if not p.future.done()])
            except IntegrityError:
                # Most often another process wrote one of the structures: read afresh.
                self._write_together([p for p in batch if not p.future.done()])
        except IntegrityError:
            # Still conflicting: a probe_id already stored, say. Each probe on its own.
            for pending in batch:
                if not pending.future.done():
                    self._write_alone(pending)
        except Exception as exc:  # the store is down, say: every caller hears why
            log.exception("probe writer: a batch of %d failed", len(batch))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)

    def _forget(self, batch: list[PendingProbe]) -> None:
        for pending in batch:
            self._structures.pop(pending.submission.registration_id, None)

    def _write_alone(self, pending: PendingProbe) -> None:
        registration_id = pending.submission.registration_id
        self._structures.pop(registration_id, None)
        try:
            probe, created, structure = self.application.record_probe(
                pending.year, pending.submission, pending.recorded_by
            )
        except Exception as exc:
            pending.future.set_exception(exc)
            return
        if structure is not None:
            self._remember(registration_id, structure)
        pending.future.set_result((probe, created))

    def _write_together(self, batch: list[PendingProbe]) -> None:
        try:
            self._stage_and_save(batch)
        except BaseException:
            # The structures of the batch hold its staged probes, which were not stored (or
            # may not have been: a connection lost during the commit): each is read afresh.
            # Kept, they would refuse the retry of those very probes ("all recorded").
            self._forget(batch)
            raise

    def _stage_and_save(self, batch: list[PendingProbe]) -> None:
        if not batch:
            return
        staged: dict[UUID, Probe] = {}
        touched: dict[UUID, PanelStructure] = {}
        outcomes: list[tuple[PendingProbe, Outcome]] = []
        # Refusals are answered only once the batch is committed: one judged against a probe
        # staged here whose save then fails (a probe_id stored already) may not stand.
        refusals: list[tuple[PendingProbe, AuditError]] = []
        for pending in batch:
            submission = pending.submission
            try:
                earlier = staged.get(submission.probe_id)
                if earlier is not None:  # the same probe_id twice in one batch
                    again = self.application.resubmission_of(earlier, pending.year, submission)
                    outcomes.append((pending, (again, False)))
                    continue
                structure = touched.get(submission.registration_id) or self._structure(pending)
                probe = self.application.stage_probe(
                    pending.year, submission, pending.recorded_by, structure
                )
            except AuditError as refusal:
                # A refused probe changed nothing; its structure may hold earlier ones.
                if submission.registration_id not in touched:
                    self._structures.pop(submission.registration_id, None)
                refusals.append((pending, refusal))
                continue
            staged[submission.probe_id] = probe
            touched[submission.registration_id] = structure
            outcomes.append((pending, (probe, True)))
        if staged:
            carriers = {
                probe.id: pending.carrier
                for pending, (probe, created) in outcomes
                if created and pending.carrier
            }
            self.application.save(*touched.values(), *staged.values(), carriers=carriers)
            self.batches += 1
        for registration_id, structure in touched.items():
            self._remember(registration_id, structure)
        for pending, outcome in outcomes:
            pending.future.set_result(outcome)
        for pending, why in refusals:
            self._refuse(pending, why)

    def _refuse(self, pending: PendingProbe, refusal: AuditError) -> None:
        """A probe already recorded under this probe_id is answered as such (the same: the
        original; another content: a conflict) rather than by what its plan says now."""
        try:
            existing = self.application.existing_probe(pending.year, pending.submission)
        except AuditError as conflict:
            pending.future.set_exception(conflict)
            return
        if existing is not None:
            pending.future.set_result((existing, False))
        else:
            pending.future.set_exception(refusal)

    def _structure(self, pending: PendingProbe) -> PanelStructure:
        """The writer's own copy (it holds the writer's latest saves), else the stored one."""
        year, registration_id = pending.year, pending.submission.registration_id
        structure = self._structures.get(registration_id)
        if structure is None or structure.year != year:
            structure = self.application.structure(year, registration_id)
        return structure

    def _remember(self, registration_id: UUID, structure: PanelStructure) -> None:
        self._structures[registration_id] = structure
        self._structures.move_to_end(registration_id)
        while len(self._structures) > self.cached_structures:
            self._structures.popitem(last=False)
