"""The bench's synthetic edition of scoring, published straight to the REGISTRATION and
AUDIT streams as the relays would: the default referential; `count` structures of every
category (80% paid, the free ones granted a place), a 13-probe plan each, one probe per slot
(each checked against the referential); corrections of ~5% of the probes. The same (year,
count) always gives the same events: the bench pins their fingerprints."""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, partial
from typing import Any

from baro_audit_ingest.generator import edition_dates, probes_for_plan
from baro_audit_ingest.generator import structures as structure_bodies
from baro_audit_ingest.planning import DEFAULT_AUDITOR_POOL, DEFAULT_CHANNEL_MIX, plan_probes
from baro_audit_ingest.referential import (
    ReferentialDocument,
    consistency_problems,
    default_referential,
    measure_problems,
)
from baro_chassis.consumers import ensure_streams
from baro_chassis.nats import connect
from baro_contracts import audit_v1 as audit
from baro_contracts import registration_v1 as reg
from baro_contracts.base import ContractEvent
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM
from baro_registration.domain import category_of

SEED = 17
PENDING = 20_000  # acks awaited at once while publishing
Timed = tuple[type[ContractEvent], datetime, dict[str, Any]]  # an event, before its id
Checked = tuple[dict[str, Any], audit.Channel, audit.Measures]  # a probe, valid


@cache
def _referential() -> ReferentialDocument:
    return default_referential()


@dataclass(frozen=True)
class Published:
    """What the bench keeps of an edition once on the streams (its events let go of)."""

    year: int
    registration: int
    audit: int
    probe_events: int
    corrections: int
    generated_seconds: float
    seconds: float

    @property
    def events(self) -> int:
        return self.registration + self.audit

    def summary(self) -> str:
        return (
            f"  edition {self.year}: generated and checked in {self.generated_seconds:.1f} s; "
            f"{self.events:,} events ({self.registration:,} registration.v1, {self.audit:,} "
            f"audit.v1), {self.probe_events:,} probe events ({self.corrections:,} corrections), "
            f"published in {self.seconds:.1f} s"
        )


def _numbered(producer: str, events: Iterable[Timed], year: int) -> list[ContractEvent]:
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
    registered: list[Timed] = []
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


def _planned(
    year: int, structure: reg.StructureRegistered
) -> tuple[str, list[dict[str, Any]], list[Checked]]:
    """A structure's plan and its probes, each checked against the referential: (the plan's
    seed, its slots, the probes with their channel and measures)."""
    dates = edition_dates(year)
    seed = f"bench-{year}/{structure.registration_id}"
    planned = plan_probes(
        seed=seed,
        sites=[{"site_id": s.site_id, "kind": s.kind.value} for s in structure.sites],
        physical_visit=False,
        window_start=date.fromisoformat(dates["audit_window_start"]),
        window_end=date.fromisoformat(dates["audit_window_end"]),
        channel_mix=DEFAULT_CHANNEL_MIX,
        auditors=DEFAULT_AUDITOR_POOL,
    )
    plan = {
        "registration_id": str(structure.registration_id),
        "probes": [
            {**p, "site_id": str(p["site_id"]), "planned_on": str(p["planned_on"])} for p in planned
        ],
    }
    referential = _referential()
    checked = []
    for probe in probes_for_plan(
        plan=plan,
        referential=referential,
        certified=bool(structure.certifications),
        seed=SEED,
        year=year,
    ):
        channel = audit.Channel(probe["channel"])
        measures = audit.Measures(**probe["measures"])
        problems = (
            referential.answer_problems(channel, probe["answers"])
            + measure_problems(channel, measures)
            + consistency_problems(referential, probe["answers"], measures)
        )
        if problems:
            raise AssertionError(f"generated an invalid probe: {problems}")
        checked.append((probe, channel, measures))
    return seed, planned, checked


def _timed(
    timed: list[Timed],
    registration_id: uuid.UUID,
    planned: list[dict[str, Any]],
    probes: list[Checked],
    referential: ReferentialDocument,
    rng: random.Random,
) -> None:
    """A structure's probe_recorded events, and corrections of ~5% of them."""
    for slot, (probe, channel, measures) in zip(planned, probes, strict=True):
        performed = datetime.fromisoformat(probe["performed_at"])
        recorded = performed + timedelta(minutes=rng.randint(5, 240))
        timed.append(
            (
                audit.ProbeRecorded,
                recorded,
                {
                    "probe_id": uuid.UUID(probe["probe_id"]),
                    "registration_id": registration_id,
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
                        "registration_id": registration_id,
                        "revision": revision,
                        "answers": changed,
                        "measures": {},
                        "reason": "the auditor's notes disagree with the capture",
                        "corrected_by": "admin",
                        "corrected_at": corrected,
                    },
                )
            )


def synthetic_edition(year: int, count: int) -> tuple[list[ContractEvent], list[ContractEvent]]:
    """A whole edition as registration and audit-ingest would have published it: (the
    registration.v1 events, the audit.v1 events)."""
    rng = random.Random(SEED)
    referential = _referential()
    structures, registration = _registrations(year, count, rng)
    published = datetime(year, 1, 2, 10, tzinfo=UTC)
    head: list[Timed] = [
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
    timed: list[Timed] = []
    issued = datetime(year, 3, 16, 0, 10, tzinfo=UTC)
    # The plans and probes (drawn from their own seeds) in worker processes; what draws on
    # `rng` here, in the same order as ever.
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        for structure, (seed, planned, probes) in zip(
            structures, pool.imap(partial(_planned, year), structures, chunksize=50), strict=True
        ):
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
            _timed(timed, structure.registration_id, planned, probes, referential, rng)
    timed.sort(key=lambda entry: entry[1])
    first = timed[0][1]
    frozen = (audit.ReferentialFrozen, first, {"referential_version": 1, "frozen_at": first})
    return registration, _numbered("audit", [*head, frozen, *timed], year)


async def publish_edition(nats_url: str, year: int, count: int) -> Published:
    """`synthetic_edition(year, count)` published as the relays would (`event.headers()`),
    with a window of PENDING acks in flight."""
    started = time.perf_counter()
    gc.disable()  # hundreds of thousands of objects, all kept: nothing to collect
    try:
        registration, events = synthetic_edition(year, count)
        generated = time.perf_counter() - started
        await ensure_streams(nats_url, REGISTRATION_STREAM, AUDIT_STREAM)
        nc = await connect(nats_url, "bench-publisher")
        try:
            js = nc.jetstream(publish_async_max_pending=PENDING)
            started = time.perf_counter()
            acks = [
                await js.publish_async(e.subject, e.model_dump_json().encode(), headers=e.headers())
                for e in [*registration, *events]
            ]
            await js.publish_async_completed()
            seconds = time.perf_counter() - started
        finally:
            await nc.close()
        if duplicates := sum(1 for ack in acks if ack.result().duplicate):
            raise AssertionError(f"{duplicates} events were dropped as duplicates")
        corrections = sum(isinstance(e, audit.ProbeCorrected) for e in events)
        probes = corrections + sum(isinstance(e, audit.ProbeRecorded) for e in events)
        counts = len(registration), len(events)
        del registration, events, acks
    finally:
        gc.enable()
        gc.collect()
    return Published(year, *counts, probes, corrections, generated, seconds)
