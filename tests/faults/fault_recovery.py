"""When a case recovered: from the fault until writes succeed again, the part that was hit
is ready again, and everything acknowledged before the fault is scored."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from fault_counts import StageReader
from fault_load import Burst
from fault_stack import FaultStack

WATCH_BOUND = 75.0
"""Well past the 30 s bar: how long a case waits for its recovery before saying never."""


@dataclass
class Recovery:
    ready_at: float | None = None
    backlog_scored_at: float | None = None

    def seconds(self, burst: Burst) -> float | None:
        writes_back = burst.probes.writes_back_after(burst.fault_at)
        registrations_back = burst.registrations.writes_back_after(burst.fault_at)
        moments = [self.ready_at, self.backlog_scored_at, writes_back, registrations_back]
        if any(m is None for m in moments):
            return None
        return max(m for m in moments if m is not None) - burst.fault_at


async def watch(
    stack: FaultStack, reader: StageReader, burst: Burst, services: list[str]
) -> Recovery:
    """Polls, once the fault is injected, until both moments are seen (or WATCH_BOUND)."""
    recovery = Recovery()
    while time.monotonic() - burst.fault_at < WATCH_BOUND and not stack.up_exited():
        if recovery.ready_at is None and await stack.wait_ready(services, timeout=0.5) is not None:
            recovery.ready_at = time.monotonic()
        if recovery.backlog_scored_at is None:
            probes, registrations = await asyncio.gather(
                reader.scored_probes(), reader.scored_registrations()
            )
            if (
                probes is not None
                and registrations is not None
                and burst.probes_acknowledged_before_fault <= probes.keys()
                and burst.registrations_acknowledged_before_fault <= registrations.keys()
            ):
                recovery.backlog_scored_at = time.monotonic()
        if recovery.ready_at is not None and recovery.backlog_scored_at is not None:
            return recovery
        await asyncio.sleep(0.25)
    return recovery
