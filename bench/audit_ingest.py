"""Probe ingestion over HTTP with the whole stack running.

Starts embedded NATS and PostgreSQL (durable, in a temp dir; or NATS_URL / DATABASE_URL),
then the registration and audit-ingest services as their own processes, registers a
generated panel and closes it; then, at each level of concurrent clients (8, 64 and 256 by
default), posts N new probes over that many keep-alive HTTP connections, each client
sending its next probe once the last is answered; then N more through the batch endpoint
(50 per request), and prints:
  - a table: per level, probes/s accepted over HTTP (201s over the level's wall time), the
    latency of a POST (p50, p99) and the p99 queueing alone would give (Little's law:
    clients / throughput), for throughput that holds as clients are added;
  - the time until every probe is on JetStream (AUDIT stream, via the relay);
  - the same for the batch endpoint (capture apps syncing, imports);
  - in the same run, a plain `eventsourcing` save loop of the same probe events (one per
    save, no HTTP, no checks) as the reference, and the ratio.

    uv run python bench/audit_ingest.py [N=2000 per level] [LEVELS=8,64,256]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import nats
import psutil

from baro_audit_ingest.application import AuditApplication
from baro_audit_ingest.campaign import generate
from baro_audit_ingest.domain import Probe
from baro_chassis.auth import Role, issue_token
from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres, free_port, stop_process
from baro_chassis.postgres import ensure_database, eventsourcing_env
from baro_chassis.settings import DEV_ONLY_JWT_SECRET, database_url_for, service_database_name
from baro_chassis.stack import wait_healthy

YEAR = 2027


def extra_args(name: str) -> list[str]:
    """BENCH_SINGLE_PROCESS=1 runs audit-ingest's probe writer inside its API process."""
    single = name == "audit-ingest" and os.environ.get("BENCH_SINGLE_PROCESS") == "1"
    return ["--single-process"] if single else []


def start_service(name: str, port: int, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    script = Path(sysconfig.get_path("scripts")) / f"baro-{name}"
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port), *extra_args(name)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_healthy(port, process)
    return process


@dataclass(frozen=True)
class Load:
    accepted: int
    seconds: float
    latencies: list[float]  # seconds, one per request

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def post_all(
    port: int, lines: list[dict[str, Any]], concurrency: int, batch: int = 1
) -> Load:
    """POST the probes on `concurrency` keep-alive connections, one per request or `batch`
    per request to the batch endpoint (aiohttp: httpx's pool takes more of the two cores than
    the load it sends)."""
    token = issue_token(DEV_ONLY_JWT_SECRET, roles=(Role.AUDITOR,))
    requests: list[tuple[str, bytes]] = []
    for start in range(0, len(lines), batch):
        probes = [
            {k: v for k, v in p.items() if k != "edition"} for p in lines[start : start + batch]
        ]
        if batch == 1:
            requests.append((f"/editions/{YEAR}/probes", json.dumps(probes[0]).encode()))
        else:
            body = json.dumps({"probes": probes}).encode()
            requests.append((f"/editions/{YEAR}/probes/batch", body))
    queue = iter(requests)
    accepted = 0
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def connection(client: aiohttp.ClientSession) -> None:
        nonlocal accepted
        for path, body in queue:
            sent = time.perf_counter()
            async with client.post(path, data=body) as response:
                answer = await response.read()
            latencies.append(time.perf_counter() - sent)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if batch == 1:
                accepted += response.status == 201
            elif response.status == 200:
                accepted += json.loads(answer)["recorded"]

    async with aiohttp.ClientSession(
        base_url=f"http://127.0.0.1:{port}",
        headers=headers,
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=120),
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(connection(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if set(statuses) != {201 if batch == 1 else 200}:
        print(f"  statuses: {statuses}")
    return Load(accepted, elapsed, latencies)


class CpuSplit:
    """CPU seconds used by each part of the stack, to say where the two cores go at each
    level: audit-ingest's API process and its probe writer process (its child) apart, and
    this load generator ("client") itself."""

    def __init__(self, audit_ingest: int, others: dict[str, int]) -> None:
        self.api = psutil.Process(audit_ingest)
        self.others = {name: psutil.Process(pid) for name, pid in others.items()}
        self.parts = ["api", "writer", *others]

    def seconds(self) -> dict[str, float]:
        used = {"api": _cpu(self.api), "writer": sum(map(_cpu, self.api.children(True)))}
        for name, process in self.others.items():
            children = [] if name == "client" else process.children(recursive=True)
            used[name] = _cpu(process) + sum(map(_cpu, children))
        return used


def _cpu(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.NoSuchProcess):
        times = process.cpu_times()
        return float(times.user + times.system)
    return 0.0


async def audit_messages(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info("AUDIT")).state.messages)
    finally:
        await nc.close()


def plain_save_loop(database_url: str, lines: list[dict[str, Any]]) -> float:
    """The same probe events saved one per save with bare eventsourcing: events/s."""
    ensure_database(database_url)
    app = AuditApplication(env=eventsourcing_env(database_url))
    now = datetime.now().astimezone()
    probes = [
        Probe(
            probe_id=uuid.UUID(p["probe_id"]),
            year=p["edition"],
            registration_id=uuid.UUID(p["registration_id"]),
            site_id=uuid.UUID(p["site_id"]),
            channel=p["channel"],
            slot=1,
            auditor_id=p["auditor_id"],
            performed_at=datetime.fromisoformat(p["performed_at"]),
            referential_version=1,
            answers=p["answers"],
            measures=p["measures"],
            recorded_at=now,
            recorded_by="bench",
        )
        for p in lines
    ]
    started = time.perf_counter()
    for probe in probes:
        super(AuditApplication, app).save(probe)
    elapsed = time.perf_counter() - started
    app.close()
    return len(probes) / elapsed


async def main(count: int, levels: list[int]) -> None:
    root = Path(tempfile.mkdtemp(prefix="baro-bench-audit-"))
    servers: list[Any] = []
    services: list[subprocess.Popen[bytes]] = []
    try:
        nats_url = os.environ.get("NATS_URL")
        if not nats_url:
            servers.append(EmbeddedNats(root / "nats").start())
            nats_url = servers[-1].url
        pg_url = os.environ.get("DATABASE_URL")
        if not pg_url:
            servers.append(EmbeddedPostgres(root / "pg").start())
            pg_url = servers[-1].url
        suffix = uuid.uuid4().hex[:6]
        env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": pg_url}
        ports = {}
        for name in ("registration", "audit-ingest"):
            db = database_url_for(pg_url, f"{service_database_name(name)}_{suffix}")
            ensure_database(db)
            env[f"{name.upper().replace('-', '_')}_DATABASE_URL"] = db
        for name in ("registration", "audit-ingest"):
            ports[name] = free_port()
            services.append(start_service(name, ports[name], env, root))
        total = count * (len(levels) + 1)  # each level's probes, then the batch endpoint's
        structures = math.ceil(total / 13.3)
        campaign = root / "campaign.jsonl"
        os.environ["BARO_JWT_SECRET"] = DEV_ONLY_JWT_SECRET
        generate(
            year=YEAR,
            count=structures,
            seed=11,
            out=campaign,
            registration_url=f"http://127.0.0.1:{ports['registration']}",
            audit_url=f"http://127.0.0.1:{ports['audit-ingest']}",
        )
        lines = [json.loads(line) for line in campaign.read_text().splitlines()][:total]
        # Capture apps send probes of many structures at once, not one structure's 13 in a
        # row: interleave them (deterministically).
        random.Random(7).shuffle(lines)
        # The edition's first probe freezes its referential, on its own: not part of a level.
        first, lines = lines[:1], lines[1:]
        await post_all(ports["audit-ingest"], first, concurrency=1)

        others = {"client": os.getpid(), "registration": services[0].pid}
        others.update(
            ("nats" if isinstance(server, EmbeddedNats) else "postgres", server.process.pid)
            for server in servers
        )
        cpu = CpuSplit(services[1].pid, others)
        before = await audit_messages(nats_url)
        loads_started = time.perf_counter()
        loads = []
        for index, clients in enumerate(levels):
            level_lines = lines[index * count : (index + 1) * count]
            used_before = cpu.seconds()
            load = await post_all(ports["audit-ingest"], level_lines, clients)
            used = {n: t - used_before[n] for n, t in cpu.seconds().items()}
            loads.append((clients, load, used))
        accepted = sum(load.accepted for _, load, _ in loads)
        while await audit_messages(nats_url) < before + accepted:
            await asyncio.sleep(0.02)
        on_stream = time.perf_counter() - loads_started

        batched_lines = lines[len(levels) * count :]
        before = await audit_messages(nats_url)
        batch_started = time.perf_counter()
        batched = await post_all(ports["audit-ingest"], batched_lines, concurrency=8, batch=50)
        while await audit_messages(nats_url) < before + batched.accepted:
            await asyncio.sleep(0.02)
        batched_on_stream = time.perf_counter() - batch_started

        reference = plain_save_loop(database_url_for(pg_url, f"bench_plain_{suffix}"), lines)
        print(
            f"audit-ingest over HTTP, {count} probes per level, {structures} structures, "
            "whole stack on this machine"
        )
        print(
            "  clients  accepted  seconds  probes/s  p50 ms  p99 ms  queueing p99 ms  "
            "cores used: " + ", ".join(cpu.parts)
        )
        for clients, load, used in loads:
            rate = load.accepted / load.seconds
            cores = ", ".join(f"{t / load.seconds:.2f}" for t in used.values())
            print(
                f"  {clients:>7}  {load.accepted:>8}  {load.seconds:>7.2f}  {rate:>8,.0f}  "
                f"{1000 * load.percentile(0.5):>6,.0f}  {1000 * load.percentile(0.99):>6,.0f}  "
                f"{1000 * clients / rate:>15,.0f}  {cores}"
            )
        print(
            f"  all on JetStream:  {on_stream:.2f}s after the first POST "
            f"({accepted / on_stream:,.0f} probes/s end to end)"
        )
        best = max(load.accepted / load.seconds for _, load, _ in loads)
        print(
            f"  reference:         plain eventsourcing save loop of the same events "
            f"{reference:,.0f} events/s; best level / reference {best / reference:.2f}"
        )
        print(
            f"  batch endpoint:    {batched.accepted} more probes in {batched.seconds:.2f}s = "
            f"{batched.accepted / batched.seconds:,.0f} probes/s (50 per request, 8 in flight); "
            f"all on JetStream {batched_on_stream:.2f}s after the first POST"
        )
    finally:
        for process in services:
            stop_process(process)
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    # A SIGTERM (a timeout, say) still runs the `finally` that stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    levels = [int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "8,64,256").split(",")]
    asyncio.run(main(count, levels))
