"""A replay's work split by structure over worker processes (the machine's cores).

The replay reads the edition's messages once and routes each by the registration it is
about, named by its `Baro-Registration-Id` header (messages published before relays set it:
by the `registration_id` of their JSON body), to the partition that owns that structure; a
message about no structure (a referential, say) goes to every partition. Partitions own
registration ids by their first hex digit, so their structures, put end to end, are in
registration id order.

A partition parses its messages with the contracts as they come (while the replay still
reads) and keeps what scoring keeps of them (`facts.py`); once every message is in, it
computes its structures in registration id order with the same functions as the live
projection and hands back their lines and canonical texts, a batch of structures at a time.

`Workers` runs the partitions in forked processes fed through pipes while the replay reads
(with one worker: in this process).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from queue import SimpleQueue
from types import TracebackType
from typing import Any
from uuid import UUID

from baro_contracts import audit_v1 as audit
from baro_contracts.base import REGISTRATION_HEADER
from baro_contracts.scoring_v1 import ResultsPublished
from baro_scoring.document import canonical_json, line_document, structure_document
from baro_scoring.facts import (
    NOT_A_CONTRACT_EVENT,
    EditionFacts,
    Fact,
    parse_fact,
    producer_position,
)
from baro_scoring.results import structure_result

PROBE_EVENTS = (audit.ProbeRecorded, audit.ProbeCorrected)
Raw = tuple[str, bytes, int, str | None]
"""A message as read: (subject, body, stream sequence, the registration it is about)."""
Chunk = tuple[list[Raw], bool]
"""Messages sent to a worker, and whether they were routed to it (else: to every one)."""
CHUNK = 512
"""Messages sent to a worker at a time while reading (~0.5 MB)."""
BATCH = 200
"""Structures a worker hands back at a time."""


def registration_of(headers: dict[str, str] | None, body: bytes) -> str | None:
    """The registration a message is about: its header, else its body's top-level
    `registration_id` (None when it names none, or is not JSON)."""
    if headers and REGISTRATION_HEADER in headers:
        return headers[REGISTRATION_HEADER]
    try:
        value = json.loads(body).get("registration_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def owner_of(registration_id: UUID | str, workers: int) -> int:
    """The partition of a registration id: by its first hex digit (-1: not an id)."""
    try:
        first = UUID(str(registration_id)).int >> 124
    except ValueError:
        return -1
    return first * workers // 16


@dataclass
class PartitionOutput:
    probe_events: int = 0
    refused: list[str] = field(default_factory=list)
    held: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """The facts as stored (only when asked for)."""


def held_out(fact: Fact, published: ResultsPublished | None) -> bool:
    """Arrived after the publication (beyond what it included): kept, not counted."""
    if published is None:
        return False
    producer, position = producer_position(fact.event.event_id)
    return position > published.included_through.get(producer, 0)


class Partition:
    """One partition's share of the replay. A message about no structure is taken by every
    partition, and counted (refused, stored) by partition 0 only."""

    def __init__(
        self,
        index: int,
        workers: int,
        edition: int,
        published: ResultsPublished | None,
        *,
        with_rows: bool,
    ) -> None:
        self.index = index
        self.workers = workers
        self.published = published
        self.with_rows = with_rows
        self.facts = EditionFacts(edition)
        self.counts = PartitionOutput()
        self._seen: set[str] = set()

    def take(self, messages: Iterable[Raw], *, routed_here: bool) -> None:
        counted = routed_here or self.index == 0
        for message in messages:
            routed_by = message[3] if routed_here else None
            self._add(message, counted=counted, registration_id=routed_by)

    def _add(self, message: Raw, *, counted: bool, registration_id: str | None) -> None:
        """Parse one message and take its event in (once), counting it if `counted`."""
        subject, body, sequence, _ = message
        try:
            fact = parse_fact(body, subject)
        except NOT_A_CONTRACT_EVENT as exc:
            if counted:
                self.counts.refused.append(f"{subject} #{sequence}: {exc}")
            return
        if registration_id is None or fact.registration_id != UUID(registration_id):
            if registration_id is not None:
                raise RuntimeError(
                    f"{subject} #{sequence} names registration {registration_id} in its "
                    f"header but is about {fact.registration_id}"
                )
            if (
                fact.registration_id is not None
                and owner_of(fact.registration_id, self.workers) != self.index
            ):
                return  # about a structure of another partition
        event = fact.event
        if counted:
            self.counts.probe_events += isinstance(event, PROBE_EVENTS)
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        held = held_out(fact, self.published)
        if not held:
            self.facts.add(event)
        if counted:
            self.counts.held += held
            if self.with_rows:
                self.counts.rows.append(fact.row(held=held))

    def batches(self, size: int = BATCH) -> Iterator[PartitionOutput]:
        """Its structures' lines and texts, `size` at a time in registration id order, then
        what it counted."""
        batch = PartitionOutput()
        for registration_id in sorted(self.facts.structures, key=lambda r: r.int):
            facts = self.facts.structures.pop(registration_id)
            document = structure_document(structure_result(self.facts, facts))
            batch.lines.append(line_document(document))
            batch.texts.append(canonical_json(document))
            if len(batch.lines) >= size:
                yield batch
                batch = PartitionOutput()
        if batch.lines:
            yield batch
        yield self.counts


def _serve(pipe: Connection, partition: Partition) -> None:
    """A worker process: takes chunks until None, then sends its batches, then None (or the
    exception that stopped it)."""
    gc.disable()  # what it keeps lives until the process ends
    try:
        while (chunk := pipe.recv()) is not None:
            messages, routed_here = chunk
            partition.take(messages, routed_here=routed_here)
        for batch in partition.batches():
            pipe.send(batch)
        pipe.send(None)
    except BaseException as exc:
        pipe.send(exc)
    finally:
        pipe.close()


def worker_count() -> int:
    """One worker per core, when processes can be forked (else the replay's own process)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(16, os.cpu_count() or 1))


class Workers:
    """The partitions, each in a process forked on entering (one: in this process), fed the
    messages as they are read (`add`, then `close`), handing back their batches as they
    compute them (`batches`). Leaving stops any process still running."""

    def __init__(
        self,
        workers: int,
        edition: int,
        published: ResultsPublished | None,
        *,
        with_rows: bool,
    ) -> None:
        self.workers = workers
        self.partitions = [
            Partition(i, workers, edition, published, with_rows=with_rows) for i in range(workers)
        ]
        self._owned: list[list[Raw]] = [[] for _ in range(workers)]
        self._shared: list[Raw] = []
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        self._outboxes: list[SimpleQueue[Chunk | None]] = []
        self._senders: list[threading.Thread] = []

    def __enter__(self) -> Workers:
        if self.workers > 1:
            context = multiprocessing.get_context("fork")
            for partition in self.partitions:
                ours, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs, partition), daemon=True)
                process.start()
                theirs.close()
                self._pipes.append(ours)
                self._processes.append(process)
            # A thread per worker sends its chunks: the read never waits for a worker to take
            # one, and no worker waits for the read to be done with another.
            for index in range(self.workers):
                outbox: SimpleQueue[Chunk | None] = SimpleQueue()
                sender = threading.Thread(
                    target=self._send_all, args=(index, outbox), name=f"replay-feed-{index}"
                )
                sender.start()
                self._outboxes.append(outbox)
                self._senders.append(sender)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for outbox in self._outboxes:
            outbox.put(None)
        if error is not None:
            for process in self._processes:
                process.kill()
        for sender in self._senders:
            sender.join(timeout=10)
        for pipe in self._pipes:
            pipe.close()
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()

    def add(self, message: Raw) -> None:
        """One message as read, routed by the registration it is about (`message[3]`)."""
        registration_id = message[3]
        owner = owner_of(registration_id, self.workers) if registration_id is not None else -1
        if owner < 0:
            self._shared.append((*message[:3], None))
            return
        owned = self._owned[owner]
        owned.append(message)
        if len(owned) >= CHUNK:
            self._send(owner, owned, routed_here=True)
            self._owned[owner] = []

    def close(self) -> None:
        """Every message has been added."""
        for index, owned in enumerate(self._owned):
            self._send(index, owned, routed_here=True)
            self._send(index, self._shared, routed_here=False)
        for outbox in self._outboxes:
            outbox.put(None)
        self._owned = [[] for _ in range(self.workers)]
        self._shared = []

    def _send(self, index: int, messages: list[Raw], *, routed_here: bool) -> None:
        if not messages:
            return
        if self._outboxes:
            self._outboxes[index].put((messages, routed_here))
        else:
            self.partitions[index].take(messages, routed_here=routed_here)

    def _send_all(self, index: int, outbox: SimpleQueue[Chunk | None]) -> None:
        """Sends a worker its chunks, then None (every message sent, or the replay ends)."""
        pipe = self._pipes[index]
        while True:
            chunk = outbox.get()
            try:
                pipe.send(chunk)
            except OSError:  # the worker stopped: `batches` raises what stopped it
                return
            if chunk is None:
                return

    def batches(self) -> Iterator[tuple[int, PartitionOutput]]:
        """(partition, batch) as the partitions hand them back; each partition's in order."""
        if not self._pipes:
            for partition in self.partitions:
                for batch in partition.batches():
                    yield partition.index, batch
            return
        open_pipes = dict(enumerate(self._pipes))
        while open_pipes:
            ready = set(map(id, wait(list(open_pipes.values()))))
            for index, pipe in list(open_pipes.items()):
                if id(pipe) not in ready:
                    continue
                try:
                    received = pipe.recv()
                except EOFError:
                    raise RuntimeError(f"replay worker {index} ended without its results") from None
                if received is None:
                    del open_pipes[index]
                elif isinstance(received, BaseException):
                    raise received
                else:
                    yield index, received
