"""The fault suite: the stack as real processes (`baro up` on the test's own NATS and
PostgreSQL), one panel, and one case per fault in sequence. Each case posts a burst of probes
(and registrations) with retrying clients while it injects its fault, then counts what was
acknowledged against what is stored, streamed and scored (0 lost, 0 duplicated), measures
how long the stack took to recover by itself (at most 30 s), and compares scoring's live
results with a clean replay of the streams. The last test publishes the edition and replays
it to MATCH. The table is printed (`pytest -s`) and written to .data/faults-table.txt.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_counts import StageCounts, StageReader, Verdict
from fault_injections import FAULTS, Fault
from fault_load import Burst, burst_with_fault, probe_write, registration_write
from fault_recovery import watch
from fault_replay import differences_from_replay, replay
from fault_servers import RestartableCluster, RestartablePostgres
from fault_stack import FaultStack, admin_headers, auditor_headers, free_service_offset
from fault_table import Row, publish

from baro_audit_ingest.campaign import generate
from baro_audit_ingest.generator import structures
from baro_chassis.embedded import free_port

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

PROBE_YEAR = 2027
"""The edition whose panel is probed (its registration is closed, plans issued)."""
REGISTRATION_YEAR = 2031
"""An edition open for registration, so that structures keep registering during faults."""
PROBES_PER_CASE = 200
REGISTRATIONS_PER_CASE = 10
RECOVERY_BAR_SECONDS = 30.0
RETRY_BOUND = 75.0
"""Clients retry until this long after the fault (or 2 minutes into the burst)."""
SETTLE_BOUND = 60.0


@dataclass
class Campaign:
    stack: FaultStack
    reader: StageReader
    probes: list[dict[str, Any]]
    registrations: list[dict[str, Any]]
    rows: list[Row] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)

    def probes_of_case(self, index: int) -> list[dict[str, Any]]:
        return self.probes[index * PROBES_PER_CASE : (index + 1) * PROBES_PER_CASE]

    def registrations_of_case(self, index: int) -> list[dict[str, Any]]:
        step = REGISTRATIONS_PER_CASE
        return self.registrations[index * step : (index + 1) * step]


@pytest.fixture(scope="module")
def campaign() -> Iterator[Campaign]:
    # Not pytest's tmp_path: any pytest session starting meanwhile makes its root 0700 again,
    # and pg_ctl, run as PostgreSQL's system user, could no longer reach the data folder.
    root = Path(tempfile.mkdtemp(prefix="baro-faults-"))
    root.chmod(0o755)
    stack = FaultStack(
        root,
        RestartableCluster(root / "nats"),
        RestartablePostgres(root / "pg", free_port()),
        free_service_offset(),
    )
    try:
        stack.start()
        probes_file = root / "probes.jsonl"
        needed = PROBES_PER_CASE * len(FAULTS)
        generate(
            year=PROBE_YEAR,
            count=needed // 10,
            seed=5,
            out=probes_file,
            registration_url=stack.url("registration"),
            audit_url=stack.url("audit-ingest"),
        )
        probes = [json.loads(line) for line in probes_file.read_text().splitlines()]
        assert len(probes) >= needed, f"the panel has {len(probes)} probes, {needed} needed"
        random.Random(7).shuffle(probes)  # capture apps send many structures' probes at once
        opened = httpx.post(
            f"{stack.url('registration')}/editions",
            json={
                "year": REGISTRATION_YEAR,
                "registration_deadline": "2099-03-15",
                "audit_window_start": "2099-04-01",
                "audit_window_end": "2099-05-31",
                "free_places": 10,
            },
            headers=admin_headers(),
        )
        assert opened.status_code == 201, opened.text
        registrations = structures(REGISTRATIONS_PER_CASE * len(FAULTS), 9, REGISTRATION_YEAR)
        found = Campaign(
            stack, StageReader(stack, PROBE_YEAR, REGISTRATION_YEAR), probes, registrations
        )
        yield found
        print("\n" + publish(found.rows, found.closing))
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(("index", "fault"), list(enumerate(FAULTS)), ids=[f.name for f in FAULTS])
async def test_the_stack_loses_nothing_and_recovers_by_itself(
    campaign: Campaign, index: int, fault: Fault
) -> None:
    stack, reader = campaign.stack, campaign.reader
    notes: list[str] = []
    if (repaired := await stack.ensure_healthy()) is not None:
        notes.append(f"before the case, {repaired}")
    probe_writes = [
        probe_write(stack.url("audit-ingest"), PROBE_YEAR, p, auditor_headers())
        for p in campaign.probes_of_case(index)
    ]
    registration_writes = [
        registration_write(stack.url("registration"), REGISTRATION_YEAR, r, admin_headers())
        for r in campaign.registrations_of_case(index)
    ]
    watching: list[asyncio.Task[Any]] = []
    misfired: list[str] = []

    async def inject() -> None:
        try:
            await fault.inject(stack, notes)
        except Exception as exc:  # the posting goes on; the row says the fault misfired
            misfired.append(f"the fault could not be injected: {exc!r}")
        watching.append(asyncio.create_task(watch(stack, reader, burst_now[0], fault.recovering)))

    burst_now: list[Burst] = []
    started = time.monotonic()

    def give_up() -> bool:
        if stack.up_exited():
            return True
        if burst_now:
            return time.monotonic() > burst_now[0].fault_at + RETRY_BOUND
        return time.monotonic() > started + 2 * RETRY_BOUND

    burst = await burst_with_fault(
        probe_writes, registration_writes, inject, burst_now.append, give_up
    )
    recovery = await watching[0]
    if stack.up_exited():  # counted once restarted: what was kept, not what answers now
        row_problems = [f"the stack stopped: {await stack.ensure_healthy()}"]
    else:
        row_problems = []

    probe_keys = {w.key for w in probe_writes}
    probes, registrations = await settled(campaign, burst, probe_keys)
    row = Row(
        fault.name,
        Verdict.of(burst.probes.acknowledged(), probes, probe_keys),
        Verdict.of(
            burst.registrations.acknowledged(),
            registrations,
            {w.key for w in registration_writes},
        ),
        recovery.seconds(burst),
    )
    row.notes += notes
    row.problems += misfired + row_problems
    row.problems += row.probes.problems("probes") + row.registrations.problems("registrations")
    row.problems += client_problems(burst)
    if row.recovery_seconds is None or row.recovery_seconds > RECOVERY_BAR_SECONDS:
        row.problems.append(not_recovered(recovery, burst))
    row.problems += await differences_from_replay(stack, PROBE_YEAR)
    if (repaired := await stack.ensure_healthy()) is not None:
        row.problems.append(f"the stack did not recover: {repaired}")
    campaign.rows.append(row)
    assert not row.problems, f"{fault.name}:\n  " + "\n  ".join(row.problems + row.notes)


async def settled(
    campaign: Campaign, burst: Burst, probe_keys: set[str]
) -> tuple[StageCounts, StageCounts]:
    """The stages' counts once every acknowledged write is at every stage, or as they are
    after SETTLE_BOUND seconds."""
    deadline = time.monotonic() + SETTLE_BOUND
    while True:
        probes = await campaign.reader.probes(probe_keys)
        registrations = await campaign.reader.registrations()
        done = probes.holds(burst.probes.acknowledged()) and registrations.holds(
            burst.registrations.acknowledged()
        )
        if done or time.monotonic() > deadline:
            return probes, registrations
        await asyncio.sleep(0.5)


def client_problems(burst: Burst) -> list[str]:
    said = []
    for what, ledger in (("probes", burst.probes), ("registrations", burst.registrations)):
        if unanswered := ledger.unanswered():
            sample = next(iter(unanswered))
            failures = ledger.outcomes[sample].failures[-3:] or ["never sent: clients gave up"]
            said.append(
                f"{len(unanswered)} {what} never acknowledged, retried until "
                f"{RETRY_BOUND:.0f}s after the fault or the stack's end (e.g. {sample}: {failures})"
            )
        if conflicts := ledger.conflicts_on_retry():
            sample = next(iter(conflicts))
            said.append(
                f"{len(conflicts)} byte-identical retries of {what} answered 409 "
                f"(e.g. {sample} after {conflicts[sample].failures[-2:]})"
            )
        if refused := {k: o for k, o in ledger.refused().items() if k not in conflicts}:
            sample = next(iter(refused))
            said.append(
                f"{len(refused)} {what} refused (e.g. {refused[sample].status} "
                f"{refused[sample].answer[:200]})"
            )
    return said


def not_recovered(recovery: Any, burst: Burst) -> str:
    def at(moment: float | None) -> str:
        return "never" if moment is None else f"{moment - burst.fault_at:.1f}s"

    return (
        f"not recovered within {RECOVERY_BAR_SECONDS:.0f}s: probe writes back "
        f"{at(burst.probes.writes_back_after(burst.fault_at))}, registrations back "
        f"{at(burst.registrations.writes_back_after(burst.fault_at))}, ready "
        f"{at(recovery.ready_at)}, everything acknowledged before the fault scored "
        f"{at(recovery.backlog_scored_at)}"
    )


async def test_the_published_edition_replays_to_match(campaign: Campaign) -> None:
    """After every fault, scoring's published results are what a clean replay computes."""
    stack = campaign.stack
    await stack.ensure_healthy()
    published = await publish_when_caught_up(stack)
    run = await replay(stack, PROBE_YEAR, drop_schema=True)
    fingerprint = published.get("fingerprint")
    campaign.closing.append(
        f"Published edition {PROBE_YEAR}: fingerprint {fingerprint}; `baro replay scoring`: "
        + ("MATCH" if "MATCH:" in run.output else f"no MATCH (exit {run.returncode})")
    )
    assert run.returncode == 0, run.output
    assert f"Fingerprint: {fingerprint}" in run.output, run.output
    assert "MATCH: the replay reproduces the published results" in run.output, run.output


async def publish_when_caught_up(stack: FaultStack) -> dict[str, Any]:
    """Scoring refuses (409) to publish until it has applied every event: try again."""
    url = f"{stack.url('scoring')}/editions/{PROBE_YEAR}/publish"
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(headers=admin_headers(), timeout=30) as client:
        while True:
            response = await client.post(url)
            if response.status_code == 201 or time.monotonic() > deadline:
                assert response.status_code == 201, response.text
                published: dict[str, Any] = response.json()
                return published
            assert response.status_code in (404, 409), response.text
            await asyncio.sleep(0.5)
