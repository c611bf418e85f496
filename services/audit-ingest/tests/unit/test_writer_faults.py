"""The probe writer when a shared save fails (the store restarting, a dropped connection):
nothing of the failed batch stays behind, so the byte-identical retry is recorded as new."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import psycopg
import pytest

from audit_builders import edition_opened, probe_body, registration_closed, structure_registered
from baro_audit_ingest.application import AuditApplication
from baro_audit_ingest.consumers import apply_registration_event
from baro_audit_ingest.domain import PanelStructure
from baro_audit_ingest.schemas import ProbeIn
from baro_audit_ingest.writer import Outcome, ProbeWriter
from baro_chassis.testing import FakeClock
from baro_contracts.audit_v1 import Channel

pytestmark = pytest.mark.unit


class FailingSaves:
    """Wraps the application's save: the next `failures` saves raise as a dropped
    connection does, after the events were collected from their aggregates."""

    def __init__(self, application: AuditApplication) -> None:
        self.save: Callable[..., Any] = application.save
        self.failures = 0

    def __call__(self, *objs: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            for obj in objs:
                obj.collect_events()  # what eventsourcing does before it writes
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return self.save(*objs, **kwargs)


@pytest.fixture
def application(clock: FakeClock) -> AuditApplication:
    """In memory (eventsourcing's POPO recorder), a structure planned, the edition frozen."""
    clock.now = clock.now.replace(month=4, day=2)
    return AuditApplication(clock=clock)


def queue(writer: ProbeWriter, bodies: list[dict[str, Any]]) -> list[Future[Outcome]]:
    return [
        writer.submit(2027, ProbeIn.model_validate(b).submission(), "auditor", {}) for b in bodies
    ]


def outcomes(futures: list[Future[Outcome]]) -> list[bool | str]:
    """Whether each probe was recorded as new, or the name of the exception it failed with."""
    found: list[bool | str] = []
    for future in futures:
        try:
            found.append(future.result(timeout=30)[1])
        except Exception as exc:
            found.append(type(exc).__name__)
    return found


def test_a_batch_whose_save_failed_is_recorded_as_new_when_retried(
    application: AuditApplication,
) -> None:
    registered, other = structure_registered(), structure_registered()
    writer = ProbeWriter(application)  # as in the service: it keeps the plans issued
    for event in (edition_opened(), registered, other, registration_closed()):
        apply_registration_event(application, event)
    first = ProbeIn.model_validate(probe_body(other, Channel.PHONE)).submission()
    application.record_probe(2027, first, "auditor")  # the edition's first probe freezes it
    saves = FailingSaves(application)
    application.save = saves  # type: ignore[method-assign]
    emails = [probe_body(registered, Channel.EMAIL) for _ in range(3)]  # all the plan's emails
    failed = queue(writer, emails)  # before the writer starts: one batch, one save
    saves.failures = 1
    writer.start()
    try:
        assert outcomes(failed) == ["OperationalError"] * 3
        assert outcomes(queue(writer, emails)) == [True, True, True]
        assert outcomes(queue(writer, emails)) == [False, False, False]
    finally:
        writer.stop()

    stored = application.find(PanelStructure, PanelStructure.create_id(registered.registration_id))
    assert stored is not None  # its events replay in order: none is missing
    email_slots = {p["slot"] for p in stored.plan or [] if p["channel"] == "email"}
    assert {pid for slot, pid in stored.probes.items() if slot in email_slots} == {
        ProbeIn.model_validate(b).probe_id for b in emails
    }
