"""The write side: an `eventsourcing` Application on PostgreSQL that remembers trace context.

Each save that happens inside a traced request also records the request's trace context
against the new notification ids, so the relay can continue that trace on NATS.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import CanSnapshotAggregate, DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Recording,
    StoredEvent,
    Transcoding,
)

from baro_chassis.telemetry import current_carrier

T = TypeVar("T")
A = TypeVar("A")

TRACE_LINKS_DDL = """
CREATE TABLE IF NOT EXISTS event_trace_links (
    notification_id bigint PRIMARY KEY,
    carrier jsonb NOT NULL
)
"""


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


MAX_EVENT_BYTES = 512 * 1024
"""An event's recorded size limit: half of NATS's 1 MiB message limit, so its published form
(the same fields, renamed, in an envelope) is well under it. Over NATS's limit, the in-order
relay would retry the event forever and hold back every event after it."""


class EventTooLarge(Exception):
    """A command would record an event over MAX_EVENT_BYTES: nothing is recorded (413)."""

    def __init__(self, topic: str, size: int) -> None:
        name = topic.rpartition(":")[2]
        super().__init__(
            f"this change would record a {name} event of {size:,} bytes, over the "
            f"{MAX_EVENT_BYTES:,} an event may have: send it in smaller parts or shorter texts"
        )


class SizeCheckingMapper(Mapper[UUID]):
    """Refuses to store an event over MAX_EVENT_BYTES (snapshots, never published, may be)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        if len(stored.state) > MAX_EVENT_BYTES and not isinstance(
            domain_event, CanSnapshotAggregate
        ):
            raise EventTooLarge(stored.topic, len(stored.state))
        return stored


class TracedApplication(Application[UUID]):
    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env)
        # The PostgreSQL recorder's connection pool; None with in-memory persistence (unit tests).
        self._datastore: Any = getattr(self.recorder, "datastore", None)
        if self._datastore is not None:
            with self._datastore.get_connection() as conn:
                conn.execute(TRACE_LINKS_DDL)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=SizeCheckingMapper
        )

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate with that id if it exists and is a `cls`, else None."""
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def save(
        self,
        *objs: Any,
        carriers: dict[UUID, dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """Save, and link the new events to the current trace context; or, with `carriers`
        (aggregate id → trace context), each aggregate's events to its own request's trace."""
        recordings = super().save(*objs, **kwargs)
        if self._datastore is None or not recordings:
            return recordings
        if carriers is None:
            current = current_carrier()
            carriers = {r.domain_event.originator_id: current for r in recordings}
        rows = [
            (r.notification.id, json.dumps(carriers[r.domain_event.originator_id]))
            for r in recordings
            if carriers.get(r.domain_event.originator_id)
        ]
        if rows:
            ids, texts = zip(*rows, strict=True)
            with self._datastore.get_connection() as conn, conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO event_trace_links (notification_id, carrier) "
                    "SELECT * FROM unnest(%s::bigint[], %s::jsonb[]) ON CONFLICT DO NOTHING",
                    (list(ids), list(texts)),
                )
        return recordings


class Contention(Exception):
    """A command kept losing the race for the same aggregate; the caller may try again."""


def retry_on_conflict(command: Callable[[], T], attempts: int = 30) -> T:
    """Run a get-act-save command again when a concurrent save wrote the same aggregate first.

    The command reloads its aggregates on each attempt, so its checks see the other write.
    Waits a short, growing, jittered time between attempts so racing writers spread out.
    """
    for attempt in range(attempts):
        try:
            return command()
        except IntegrityError:
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
    raise Contention(f"gave up after {attempts} concurrent-write conflicts")
