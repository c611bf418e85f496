"""A replay's work split by structure over worker processes (the machine's cores).

The replay reads the edition's messages once, and routes each by the registration id in its
body (found in the bytes, without parsing) to the partition that owns that structure; a
message naming no structure (a referential, say) goes to every partition. Partitions hold
registration ids by their first hex digit, so their structures, put end to end, are in
registration id order. Each partition parses its messages with the contracts as they come,
then computes its structures' lines and canonical texts with the same functions as the live
projection, and hands them back a batch at a time, so they can be stored while the rest is
computed; the edition's figures and fingerprint are then made from all of them.

`Workers` runs the partitions in forked processes fed through pipes while the replay reads
(with one worker: in this process).
"""

from __future__ import annotations

import gc
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

from pydantic import ValidationError

from baro_contracts import audit_v1 as audit
from baro_contracts.scoring_v1 import ResultsPublished
from baro_scoring.facts import EditionFacts, producer_position
from baro_scoring.projections import Fact, parse_fact, structure_output_batches

PROBE_EVENTS = (audit.ProbeRecorded, audit.ProbeCorrected)
REGISTRATION_KEY = b'"registration_id":"'
Raw = tuple[str, bytes, int]
"""A message as read: (subject, body, stream sequence)."""
Chunk = tuple[list[Raw], bool]
"""Messages sent to a worker, and whether they were routed to it (else: to every one)."""
CHUNK = 512
"""Messages sent to a worker at a time while reading (~0.5 MB)."""
BATCH = 200
"""Structures a worker hands back at a time."""


def owner_table(workers: int) -> list[int]:
    """Byte → the partition owning registration ids that start with it (-1: not hex)."""
    table = [-1] * 256
    for digit, char in enumerate("0123456789abcdef"):
        table[ord(char)] = digit * workers // 16
        table[ord(char.upper())] = digit * workers // 16
    return table


def owner_of(registration_id: UUID | str, workers: int) -> int:
    """The partition of a registration id: by its first hex digit."""
    if isinstance(registration_id, UUID):
        return (registration_id.int >> 124) * workers // 16
    return int(registration_id[0], 16) * workers // 16


def routed_owner(body: bytes, table: list[int]) -> int:
    """The partition of the one registration id in the body; -1 (every partition) if the
    body names none, or more than one."""
    at = body.find(REGISTRATION_KEY)
    # Exactly one registration id in the body: a contract event's own, at its top level.
    if at < 0 or body.find(REGISTRATION_KEY, at + 1) >= 0:
        return -1
    end = at + len(REGISTRATION_KEY)
    return table[body[end]] if end < len(body) else -1


@dataclass
class Routed:
    """The messages read, by partition; `shared` ones go to every partition."""

    workers: int
    owned: list[list[Raw]] = field(default_factory=list)
    shared: list[Raw] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.owned = [[] for _ in range(self.workers)]
        self._table = owner_table(self.workers)

    def add(self, subject: str, body: bytes, sequence: int) -> int:
        """Routes the message; returns its partition (-1: every partition)."""
        owner = routed_owner(body, self._table)
        if owner < 0:
            self.shared.append((subject, body, sequence))
        else:
            self.owned[owner].append((subject, body, sequence))
        return owner


@dataclass
class PartitionOutput:
    probe_events: int = 0
    refused: list[str] = field(default_factory=list)
    held: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """The facts as stored (only when asked for)."""

    def add(self, more: PartitionOutput) -> None:
        self.probe_events += more.probe_events
        self.refused += more.refused
        self.held += more.held
        self.lines += more.lines
        self.texts += more.texts
        self.rows += more.rows


def held_out(fact: Fact, published: ResultsPublished | None) -> bool:
    """Arrived after the publication (beyond what it included): kept, not counted."""
    if published is None:
        return False
    producer, position = producer_position(fact.event.event_id)
    return position > published.included_through.get(producer, 0)


class Partition:
    """One partition's share of the replay: its messages parsed as they come, then its
    structures computed. A message naming no structure is taken by every partition, and
    counted (refused, stored) by partition 0 only."""

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
        index, counts = self.index, self.counts
        for subject, body, sequence in messages:
            try:
                fact = parse_fact(body, subject)
            except (KeyError, ValueError, ValidationError) as exc:
                if routed_here or index == 0:
                    counts.refused.append(f"{subject} #{sequence}: {exc}")
                continue
            registration_id = fact.registration_id
            owner = owner_of(registration_id, self.workers) if registration_id else 0
            if registration_id is not None and owner != index:
                if routed_here:  # the bytes named another structure than the event does
                    raise RuntimeError(f"{subject} #{sequence} was routed to the wrong partition")
                continue
            event = fact.event
            if owner == index:
                counts.probe_events += isinstance(event, PROBE_EVENTS)
            if event.event_id in self._seen:
                continue
            self._seen.add(event.event_id)
            held = held_out(fact, self.published)
            if not held:
                self.facts.add(event)
            if owner == index:
                counts.held += held
                if self.with_rows:
                    counts.rows.append(fact.row(held))

    def batches(self, size: int = BATCH) -> Iterator[PartitionOutput]:
        """Its structures' lines and texts, `size` at a time in registration id order, then
        what it counted."""
        for lines, texts in structure_output_batches(self.facts, size):
            yield PartitionOutput(lines=lines, texts=texts)
        yield self.counts


def _serve(pipe: Connection, partition: Partition) -> None:
    """A worker process: takes chunks until None, then sends its batches, then None (or the
    exception that stopped it)."""
    gc.disable()  # everything made lives until the process ends
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
        self._unsent = Routed(workers)
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

    def add(self, subject: str, body: bytes, sequence: int) -> None:
        owner = self._unsent.add(subject, body, sequence)
        if owner >= 0 and len(self._unsent.owned[owner]) >= CHUNK:
            self._send(owner, self._unsent.owned[owner], routed_here=True)
            self._unsent.owned[owner] = []

    def close(self) -> None:
        """Every message has been added."""
        for index, owned in enumerate(self._unsent.owned):
            self._send(index, owned, routed_here=True)
            self._send(index, self._unsent.shared, routed_here=False)
        for outbox in self._outboxes:
            outbox.put(None)
        self._unsent = Routed(self.workers)

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
