"""A national edition end to end on this machine: STRUCTURES structures (40,000 by default)
registered, registration closed, plans issued, every planned probe (~13 a structure, about
520,000) posted through the batch endpoint, the edition published, then replayed.

Embedded NATS and PostgreSQL (durable, in a temp dir; or NATS_URL / DATABASE_URL) and the
registration, audit-ingest, scoring and billing services as their own processes, as
`make up` runs them. Each step's time and throughput; registration's rate over the first
and the last thousand registrations (it must not fall as the edition grows); each
process's peak memory (with its children), sampled throughout.

    uv run python bench/national.py [STRUCTURES=40000] [CLIENTS=16]

Targets: registering >= 100/s from the first to the last thousand; the close and the plans
each < 2 minutes; publication < 2 minutes; no process over 2 GiB.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from stats import MiB, PeakMemory

from baro_audit_ingest.generator import edition_dates, probes_for_plan, structures
from baro_audit_ingest.referential import ReferentialDocument
from baro_chassis.auth import Role, issue_token
from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres, free_port, stop_process
from baro_chassis.nats import connect
from baro_chassis.postgres import ensure_database
from baro_chassis.settings import DEV_ONLY_JWT_SECRET, database_url_for, service_database_name
from baro_chassis.stack import wait_ready

YEAR = 2033
SEED = 23
SERVICES = ("registration", "audit-ingest", "scoring", "billing")
CONSUMERS = (  # (stream, durable): caught up when none has a message left to take
    ("REGISTRATION", "audit-ingest"),
    ("REGISTRATION", "billing"),
    ("REGISTRATION", "scoring-registration"),
    ("AUDIT", "scoring-audit"),
)
BATCH = 100
"""Probes per request to the batch endpoint."""
REGISTERING_RATE, STEP_SECONDS, MEMORY_BYTES = 100.0, 120.0, 2 * 1024**3
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=600)


def token(role: Role) -> str:
    return issue_token(DEV_ONLY_JWT_SECRET, roles=(role,), subject=f"bench-{role.value}")


@dataclass
class Step:
    name: str
    seconds: float
    count: int = 0
    unit: str = ""
    target: float | None = None
    """The most seconds it may take."""

    def line(self) -> str:
        rate = f" = {self.count / self.seconds:,.0f} {self.unit}/s" if self.count else ""
        counted = f", {self.count:,} {self.unit}" if self.count else ""
        verdict = ""
        if self.target is not None:
            verdict = f"  (target < {self.target:.0f} s: {met(self.seconds < self.target)})"
        return f"  {self.name:<34} {self.seconds:>8.1f} s{counted}{rate}{verdict}"


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    servers: list[EmbeddedNats | EmbeddedPostgres] = field(default_factory=list)
    peaks: dict[str, PeakMemory] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def watch(self, name: str, pid: int) -> None:
        self.peaks[name] = PeakMemory(pid, interval=0.5, proportional=True).__enter__()

    def start(self) -> None:
        nats_url = os.environ.get("NATS_URL")
        if not nats_url:
            nats = EmbeddedNats(self.root / "nats").start()
            self.servers.append(nats)
            nats_url = nats.url
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            postgres = EmbeddedPostgres(self.root / "pg").start()
            self.servers.append(postgres)
            database_url = postgres.url
        for server in self.servers:
            assert server.process is not None
            self.watch(type(server).__name__.removeprefix("Embedded").lower(), server.process.pid)
        self.env.update(NATS_URL=nats_url, DATABASE_URL=database_url)
        for name in SERVICES:
            ensure_database(database_url_for(database_url, service_database_name(name)))
            self.ports[name] = free_port()
            script = Path(sysconfig.get_path("scripts")) / f"baro-{name}"
            log = (self.root / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                [str(script), "serve", "--port", str(self.ports[name])],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.watch(name, self.processes[name].pid)
        for name, process in self.processes.items():
            wait_ready(self.ports[name], process)

    def stop(self) -> None:
        for peak in self.peaks.values():
            peak.__exit__()
        for process in self.processes.values():
            stop_process(process)
        for server in reversed(self.servers):
            server.stop()


def session(stack: Stack, service: str, role: Role, clients: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=stack.url(service),
        headers={"Authorization": f"Bearer {token(role)}"},
        connector=aiohttp.TCPConnector(limit=clients),
        timeout=REQUEST_TIMEOUT,
    )


async def answer(response: aiohttp.ClientResponse, what: str, *ok: int) -> Any:
    body = await response.read()
    if response.status not in ok:
        raise SystemExit(f"{what}: {response.status} {body[:500]!r}")
    return json.loads(body)


async def register(stack: Stack, count: int, clients: int) -> list[float]:
    """Registers `count` structures, `clients` at a time; returns when each was answered."""
    bodies = iter(structures(count, SEED, YEAR))
    answered: list[float] = []
    async with session(stack, "registration", Role.ADMIN, clients) as client:
        await answer(await client.post("/editions", json=edition_dates(YEAR)), "opening", 201)

        async def registering() -> None:
            for body in bodies:
                url = f"/editions/{YEAR}/registrations"
                await answer(await client.post(url, json=body), "registering", 201)
                answered.append(time.perf_counter())

        await asyncio.gather(*(registering() for _ in range(clients)))
    return answered


def thousand_rate(answered: list[float], started: float, *, last: bool) -> float:
    """Registrations per second over the first (or the last) thousand."""
    block = min(1000, len(answered))
    if last:
        begin = answered[-block - 1] if len(answered) > block else started
        return block / (answered[-1] - begin)
    return block / (answered[block - 1] - started)


async def caught_up(stack: Stack, bound: float = 3600) -> None:
    """Until every consumer of the edition's events has none left to take or acknowledge."""
    nc = await connect(stack.env["NATS_URL"], "bench-national")
    js = nc.jetstream(timeout=30)
    deadline = time.monotonic() + bound
    try:
        while True:
            infos = [await js.consumer_info(stream, durable) for stream, durable in CONSUMERS]
            if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"consumers not caught up after {bound:.0f} s: {infos}")
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def in_panel(stack: Stack) -> list[dict[str, Any]]:
    async with session(stack, "registration", Role.ADMIN, 1) as client:
        url = f"/editions/{YEAR}/registrations"
        registrations = await answer(await client.get(url), "listing", 200)
    return [r for r in registrations if r["status"] == "in_panel"]


async def plans(stack: Stack, panel: list[dict[str, Any]], clients: int) -> list[Any]:
    """Every panel structure's plan, once audit-ingest has issued it."""
    ids = iter(enumerate(r["registration_id"] for r in panel))
    found: list[Any] = [None] * len(panel)
    deadline = time.monotonic() + 1800
    async with session(stack, "audit-ingest", Role.AUDITOR, clients) as client:

        async def reading() -> None:
            for index, registration_id in ids:
                url = f"/editions/{YEAR}/plans/{registration_id}"
                while (response := await client.get(url)).status in (404, 409):
                    await response.read()
                    if time.monotonic() > deadline:
                        raise SystemExit(f"no plan for registration {registration_id}")
                    await asyncio.sleep(0.2)
                found[index] = await answer(response, "reading a plan", 200)

        await asyncio.gather(*(reading() for _ in range(clients)))
    return found


async def referential(stack: Stack) -> ReferentialDocument:
    async with session(stack, "audit-ingest", Role.AUDITOR, 1) as client:
        url = f"/editions/{YEAR}/referential"
        return ReferentialDocument.from_json(
            await answer(await client.get(url), "referential", 200)
        )


def probe_batches(
    panel: list[dict[str, Any]], issued: list[Any], document: ReferentialDocument
) -> Iterator[bytes]:
    """The planned probes as batch bodies, made as they are sent (half a million probes
    would take gigabytes held at once), structures interleaved as capture apps send them."""
    batch: list[dict[str, Any]] = []
    for registration, plan in zip(panel, issued, strict=True):
        certified = bool(registration["certifications"])
        for probe in probes_for_plan(
            plan=plan, referential=document, certified=certified, seed=SEED, year=YEAR
        ):
            batch.append({k: v for k, v in probe.items() if k != "edition"})
            if len(batch) == BATCH:
                yield json.dumps({"probes": batch}).encode()
                batch = []
    if batch:
        yield json.dumps({"probes": batch}).encode()


async def post_probes(stack: Stack, bodies: Iterator[bytes], clients: int) -> int:
    recorded = 0
    headers = {"Content-Type": "application/json"}
    async with session(stack, "audit-ingest", Role.AUDITOR, clients) as client:

        async def posting() -> None:
            nonlocal recorded
            for body in bodies:
                url = f"/editions/{YEAR}/probes/batch"
                response = await client.post(url, data=body, headers=headers)
                result = await answer(response, "posting probes", 200)
                recorded += result["recorded"]
                if result["recorded"] != len(json.loads(body)["probes"]):
                    raise SystemExit(f"a batch was not fully recorded: {result}")

        await asyncio.gather(*(posting() for _ in range(clients)))
    return recorded


async def publish(stack: Stack) -> dict[str, Any]:
    async with session(stack, "scoring", Role.ADMIN, 1) as client:
        response = await client.post(f"/editions/{YEAR}/publish")
        published: dict[str, Any] = await answer(response, "publishing", 201)
        return published


def replay(stack: Stack) -> tuple[float, float, str]:
    """`baro-scoring replay --edition YEAR` as a process: seconds, peak MiB, its output."""
    script = Path(sysconfig.get_path("scripts")) / "baro-scoring"
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(script), "replay", "--edition", str(YEAR)],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    with PeakMemory(process.pid) as peak:
        output, _ = process.communicate(timeout=3600)
    return time.perf_counter() - started, peak.mib, output.decode(errors="replace")


async def run(stack: Stack, count: int, clients: int) -> None:
    steps: list[Step] = []
    print(f"National edition {YEAR}: {count:,} structures, {clients} clients", flush=True)

    started = time.perf_counter()
    answered = await register(stack, count, clients)
    steps.append(Step("registration", time.perf_counter() - started, count, "registrations"))
    first = thousand_rate(answered, started, last=False)
    last = thousand_rate(answered, started, last=True)

    started = time.perf_counter()
    async with session(stack, "registration", Role.ADMIN, 1) as client:
        await answer(await client.post(f"/editions/{YEAR}/close"), "closing", 200, 201)
    steps.append(Step("close (answered)", time.perf_counter() - started, target=STEP_SECONDS))

    started = time.perf_counter()
    panel = await in_panel(stack)
    issued = await plans(stack, panel, clients)
    await caught_up(stack)
    steps.append(
        Step(
            "plans (every one readable)",
            time.perf_counter() - started,
            len(issued),
            "plans",
            STEP_SECONDS,
        )
    )

    document = await referential(stack)
    started = time.perf_counter()
    recorded = await post_probes(stack, probe_batches(panel, issued, document), clients)
    steps.append(Step("probes (batch endpoint)", time.perf_counter() - started, recorded, "probes"))
    started = time.perf_counter()
    await caught_up(stack)
    steps.append(Step("then scored (consumers caught up)", time.perf_counter() - started))

    started = time.perf_counter()
    published = await publish(stack)
    steps.append(Step("publication", time.perf_counter() - started, target=STEP_SECONDS))

    seconds, peak, output = replay(stack)
    steps.append(Step("replay", seconds))
    match = re.search(r"^(MATCH|MISMATCH)[^\n]*", output, re.MULTILINE)

    print("\n".join(step.line() for step in steps))
    print(
        f"  registering, first thousand {first:,.0f}/s, last thousand {last:,.0f}/s "
        f"(target >= {REGISTERING_RATE:.0f}/s throughout: "
        f"{met(min(first, last) >= REGISTERING_RATE)})"
    )
    verdict = match.group(0) if match else "no verdict:\n" + output[-2000:]
    print(f"  published fingerprint {published.get('fingerprint')}; replay: {verdict}")
    print(f"  replay peak memory {peak:,.0f} MiB")
    heaviest = 0.0
    for name, memory in stack.peaks.items():
        heaviest = max(heaviest, memory.bytes)
        print(f"  peak memory {name:<14} {memory.mib:>8,.0f} MiB (PSS, with its children)")
    print(f"  no process over 2 GiB: {met(max(heaviest, peak * MiB) < MEMORY_BYTES)}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    root = Path(tempfile.mkdtemp(prefix="baro-bench-national-"))
    env = {**os.environ, "BARO_JWT_SECRET": DEV_ONLY_JWT_SECRET, "BARO_DEMO": "0"}
    stack = Stack(root, env)
    try:
        stack.start()
        asyncio.run(run(stack, count, clients))
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    # A SIGTERM (a timeout, say) still runs the `finally` that stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
