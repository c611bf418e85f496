"""A replay's work split by structure over worker processes (the machine's cores).

The replay reads the edition's messages once, and routes each by the registration id in its
body (found in the bytes, without parsing) to the partition that owns that structure; a
message naming no structure (a referential, say) goes to every partition. Partitions hold
registration ids by their first hex digit, so their structures, put end to end, are in
registration id order. Each worker parses its messages with the contracts, computes its
structures' lines and canonical texts with the same functions as the live projection, and
sends them back; the edition's figures and fingerprint are then made from all of them.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from pydantic import ValidationError

from baro_contracts import audit_v1 as audit
from baro_contracts.scoring_v1 import ResultsPublished
from baro_scoring.facts import EditionFacts, producer_position
from baro_scoring.projections import Fact, parse_fact, structure_outputs

PROBE_EVENTS = (audit.ProbeRecorded, audit.ProbeCorrected)
REGISTRATION_KEY = b'"registration_id":"'
Raw = tuple[str, bytes, int]
"""A message as read: (subject, body, stream sequence)."""


def owner_table(workers: int) -> list[int]:
    """Byte → the partition owning registration ids that start with it (-1: not hex)."""
    table = [-1] * 256
    for digit, char in enumerate("0123456789abcdef"):
        table[ord(char)] = digit * workers // 16
        table[ord(char.upper())] = digit * workers // 16
    return table


def owner_of(registration_id: str, workers: int) -> int:
    return int(registration_id[0], 16) * workers // 16


@dataclass
class Routed:
    """The messages read, by partition; `shared` ones go to every partition."""

    workers: int
    owned: list[list[Raw]] = field(default_factory=list)
    shared: list[Raw] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.owned = [[] for _ in range(self.workers)]
        self._table = owner_table(self.workers)

    def add(self, subject: str, body: bytes, sequence: int) -> None:
        at = body.find(REGISTRATION_KEY)
        owner = -1
        # Exactly one registration id in the body: a contract event's own, at its top level.
        if at >= 0 and body.find(REGISTRATION_KEY, at + 1) < 0:
            end = at + len(REGISTRATION_KEY)
            owner = self._table[body[end]] if end < len(body) else -1
        if owner < 0:
            self.shared.append((subject, body, sequence))
        else:
            self.owned[owner].append((subject, body, sequence))


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


def compute_partition(
    index: int,
    routed: Routed,
    edition: int,
    published: ResultsPublished | None,
    *,
    with_rows: bool,
) -> PartitionOutput:
    """Parse a partition's messages and compute its structures. A message naming no
    structure is taken by every partition, and counted by partition 0 only."""
    out = PartitionOutput()
    facts: dict[str, tuple[Fact, bool]] = {}
    counted: set[str] = set()
    messages = [(raw, True) for raw in routed.owned[index]]
    messages += [(raw, False) for raw in routed.shared]
    for (subject, body, sequence), routed_here in messages:
        try:
            fact = parse_fact(body, subject)
        except (KeyError, ValueError, ValidationError) as exc:
            if routed_here or index == 0:
                out.refused.append(f"{subject} #{sequence}: {exc}")
            continue
        registration_id = fact.registration_id
        owner = owner_of(str(registration_id), routed.workers) if registration_id else 0
        if registration_id is not None and owner != index:
            if routed_here:  # the bytes named another structure than the event does
                raise RuntimeError(f"{subject} #{sequence} was routed to the wrong partition")
            continue
        if isinstance(fact.event, PROBE_EVENTS) and owner == index:
            out.probe_events += 1
        event_id = fact.event.event_id
        if event_id not in facts:
            facts[event_id] = (fact, held_out(fact, published))
            if owner == index:
                counted.add(event_id)
    out.held = sum(1 for event_id in counted if facts[event_id][1])
    if with_rows:
        out.rows = [facts[event_id][0].row(facts[event_id][1]) for event_id in counted]
    edition_facts = EditionFacts(edition).add_all(
        fact.event for fact, held in facts.values() if not held
    )
    out.lines, out.texts = structure_outputs(edition_facts)
    return out


def _work(send: Connection, compute: Callable[[], PartitionOutput]) -> None:
    gc.disable()  # everything made lives until the process ends
    try:
        send.send(compute())
    except BaseException as exc:
        send.send(exc)
    finally:
        send.close()


def worker_count() -> int:
    """One worker per core, when processes can be forked (else the replay's own process)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(16, os.cpu_count() or 1))


def run_partitions(
    routed: Routed, edition: int, published: ResultsPublished | None, *, with_rows: bool
) -> list[PartitionOutput]:
    """Every partition computed, each in its own forked process (they inherit the messages
    read instead of receiving them); in this process when there is only one."""

    def computer(index: int) -> Callable[[], PartitionOutput]:
        return lambda: compute_partition(index, routed, edition, published, with_rows=with_rows)

    if routed.workers == 1:
        return [computer(0)()]
    context = multiprocessing.get_context("fork")
    pipes = []
    processes = []
    for index in range(routed.workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(send, computer(index)), daemon=True)
        process.start()
        send.close()
        pipes.append(receive)
        processes.append(process)
    outputs: list[PartitionOutput] = []
    try:
        for receive in pipes:
            received = receive.recv()
            if isinstance(received, BaseException):
                raise received
            outputs.append(received)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return outputs
