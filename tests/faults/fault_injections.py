"""The faults: what is killed or restarted, and which services must be ready again after it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psutil
from fault_stack import FaultStack

from baro_chassis.settings import SERVICE_PORTS

NATS_OUTAGE_SECONDS = 2.0
"""How long NATS stays down: part of the fault, not a wait for anything."""


@dataclass
class Fault:
    name: str
    inject: Callable[[FaultStack, list[str]], Awaitable[None]]
    """Injects the fault; may add notes (what exactly it killed)."""
    recovering: list[str]
    """The services that must answer /ready (or /health) again."""


def sigkill(process: psutil.Process, notes: list[str], what: str) -> None:
    notes.append(f"SIGKILLed {what} (pid {process.pid}: {' '.join(process.cmdline()[-3:])})")
    process.kill()
    process.wait(10)


async def kill_writer(stack: FaultStack, notes: list[str]) -> None:
    sigkill(stack.writer_process(), notes, "audit-ingest's probe writer")


def kill_api(service: str) -> Callable[[FaultStack, list[str]], Awaitable[None]]:
    async def inject(stack: FaultStack, notes: list[str]) -> None:
        sigkill(stack.api_process(service), notes, f"{service}'s API process")

    return inject


async def kill_active_relay(stack: FaultStack, notes: list[str]) -> None:
    """SIGKILL whichever process holds audit-ingest's relay lock (the standalone
    `baro-audit-ingest relay`, started before the stack, unless it was replaced)."""
    holder = await stack.relay_holder_pid()
    assert holder is not None, "no process holds audit-ingest's relay lock"
    assert holder > 0, "a process that is not ours holds audit-ingest's relay lock"
    if stack.relay is not None and holder == stack.relay.pid:
        notes.append(f"SIGKILLed the active relay, `baro-audit-ingest relay` (pid {holder})")
        stack.relay.kill()
        await asyncio.to_thread(stack.relay.wait, 10)
        return
    sigkill(psutil.Process(holder), notes, "the process holding the relay lock")


async def restart_audit_leader(stack: FaultStack, notes: list[str]) -> None:
    """SIGKILL the node leading the AUDIT stream (probes are being recorded into it): the
    other two elect a new leader; the node starts again and catches up."""
    leader = await stack.nats.leader_of("AUDIT")
    stack.nats.kill(leader)
    await asyncio.sleep(NATS_OUTAGE_SECONDS)
    await asyncio.to_thread(stack.nats.restart, leader)
    new_leader = await stack.nats.leader_of("AUDIT")
    notes.append(
        f"AUDIT's leader {leader} SIGKILLed, started again after {NATS_OUTAGE_SECONDS:.0f}s, "
        f"same store; AUDIT then led by {new_leader}"
    )


async def restart_cluster(stack: FaultStack, notes: list[str]) -> None:
    """Every node SIGKILLed at once (a zone lost), then started again on the same stores."""
    stack.nats.kill_all()
    await asyncio.sleep(NATS_OUTAGE_SECONDS)
    await asyncio.to_thread(stack.nats.start_all)
    notes.append(
        f"all 3 NATS nodes SIGKILLed, started again after {NATS_OUTAGE_SECONDS:.0f}s, same stores"
    )


async def restart_postgres(stack: FaultStack, notes: list[str]) -> None:
    try:
        await asyncio.to_thread(stack.postgres.restart_fast)
    except Exception:
        # pg_ctl stopped it but could not start it: start it as at first, so that the suite
        # goes on; the case fails as misfired.
        await asyncio.to_thread(stack.postgres.start_if_down)
        raise
    notes.append("PostgreSQL restarted with `pg_ctl restart -m fast`")


ALL = list(SERVICE_PORTS)
FAULTS = [
    Fault("probe writer SIGKILL", kill_writer, ["audit-ingest"]),
    *(Fault(f"{s} API SIGKILL", kill_api(s), [s]) for s in SERVICE_PORTS),
    Fault("relay SIGKILL", kill_active_relay, ["audit-ingest"]),
    Fault("AUDIT leader SIGKILL+restart", restart_audit_leader, ALL),
    Fault("NATS cluster SIGKILL+restart", restart_cluster, ALL),
    Fault("PostgreSQL fast restart", restart_postgres, ALL),
]
