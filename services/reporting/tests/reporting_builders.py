"""Editions for reporting's tests, built as its producers publish them: registration's
events, audit-ingest's referential, and scoring's published document with its event.

The document has the published shape (`baro-scoring-1`); its figures are made here from
each structure's channel scores by the domain's means, simply enough to check by eye.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import nats

from baro_chassis.consumers import ensure_streams
from baro_chassis.nats import ensure_object_store
from baro_chassis.testing import publish_events
from baro_contracts import audit_v1 as audit
from baro_contracts import registration_v1 as reg
from baro_contracts import scoring_v1 as scoring
from baro_contracts.base import ContractEvent
from baro_contracts.scoring_v1 import RESULTS_BUCKET, results_object_name
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM, SCORING_STREAM
from baro_reporting.documents import EditionContext
from baro_reporting.facts import (
    KEPT_REGISTRATION_EVENTS,
    EditionFacts,
    Editorial,
    Publication,
    edition_facts,
    no_editorial,
    producer_position,
)
from baro_reporting.render import TEMPLATE_VERSION

D = Decimal
CHANNEL_ITEMS = {
    "phone": ("PHO-ACC-01", "PHO-INF-01", "PHO-PRO-01"),
    "email": ("EML-ACC-01", "EML-INF-01", "EML-PRO-01"),
    "website": ("WEB-ACC-01", "WEB-INF-01", "WEB-PRO-01"),
}
STEP_OF = {"ACC": "access", "INF": "information", "PRO": "processing"}
DETERMINANT_OF = {
    code: f"D{n:02d}"
    for n, code in enumerate(sorted(c for codes in CHANNEL_ITEMS.values() for c in codes), start=1)
}

SMALL_CATALOG: list[dict[str, str]] = [
    {
        "code": code,
        "label": f"Item {code}",
        "channel": channel,
        "step": STEP_OF[code.split("-")[1]],
        "determinant": DETERMINANT_OF[code],
    }
    for channel, codes in CHANNEL_ITEMS.items()
    for code in codes
]
"""The items of the tests' referential: three per channel, each its own determinant."""

_POSITIONS = {
    "registration": itertools.count(1),
    "audit-ingest": itertools.count(1),
    "scoring": itertools.count(1),
}
_SIRETS = itertools.count(1)


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mean(values: list[Decimal]) -> Decimal | None:
    return sum(values, D(0)) / len(values) if values else None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass
class Structure:
    registration: reg.StructureRegistered
    channels: dict[str, Decimal]
    """channel → score; its items, steps and determinants all get that score"""
    probes: int = 13
    catalog: list[dict[str, str]] = field(default_factory=lambda: SMALL_CATALOG)
    item_scores: dict[str, Decimal] | None = None
    """item code → score, when the items do not all score as their channel"""

    @property
    def registration_id(self) -> str:
        return str(self.registration.registration_id)

    @property
    def global_score(self) -> Decimal:
        mean = _mean(list(self.channels.values()))
        assert mean is not None
        return mean

    def document(self) -> dict[str, Any]:
        scores = self.item_scores or {}
        items = {
            item["code"]: {
                "answers": 3,
                "score": str(scores.get(item["code"], self.channels[item["channel"]])),
                "weights": "3",
            }
            for item in self.catalog
            if item["channel"] in self.channels
        }
        steps: dict[str, list[Decimal]] = {}
        determinants: dict[str, list[Decimal]] = {}
        for item in self.catalog:
            if item["code"] in items:
                score = D(items[item["code"]]["score"])
                steps.setdefault(item["step"], []).append(score)
                determinants.setdefault(item["determinant"], []).append(score)

        def group(values: dict[str, list[Decimal]]) -> dict[str, Any]:
            return {
                code: {"answers": 3 * len(v), "score": _text(_mean(v)), "weights": str(len(v))}
                for code, v in sorted(values.items())
            }

        r = self.registration
        return {
            "registration_id": self.registration_id,
            "name": r.structure_name,
            "category": r.category.value,
            "participation": r.participation.value,
            "certified": bool(r.certifications),
            "planned": 13,
            "probes": self.probes,
            "complete": self.probes >= 13,
            "channel_probes": {c: 4 for c in self.channels},
            "global": str(self.global_score),
            "channels": {
                c: {"answers": 9, "score": str(s), "weights": "9"}
                for c, s in sorted(self.channels.items())
            },
            "steps": group(steps),
            "determinants": group(determinants),
            "items": items,
            "kpis": {"phone_answered_first_attempt": [3, 4], "email_answered": [2, 3]},
            "status": "in_panel",
            "ignored_answers": 0,
        }


@dataclass
class Edition:
    year: int
    structures: list[Structure] = field(default_factory=list)
    registration_events: list[ContractEvent] = field(default_factory=list)
    catalog: list[dict[str, str]] = field(default_factory=lambda: SMALL_CATALOG)
    _referential: audit.ReferentialPublished | None = None

    def common(self, producer: str) -> dict[str, Any]:
        return {
            "event_id": f"{producer}:{next(_POSITIONS[producer])}",
            "occurred_at": datetime(self.year, 3, 1, tzinfo=UTC),
            "edition": self.year,
        }

    def structure(
        self,
        name: str,
        channels: dict[str, str],
        *,
        category: reg.Category = reg.Category.CITY_OVER_50K,
        participation: reg.Participation = reg.Participation.PAID,
        certified: bool = False,
        siret: str | None = None,
        probes: int = 13,
    ) -> Structure:
        registered = reg.StructureRegistered(
            **self.common("registration"),
            registration_id=uuid.uuid4(),
            siret=siret or f"{next(_SIRETS):014d}",
            structure_name=name,
            kind=reg.StructureKind.COMMUNE,
            category=category,
            population=120_000,
            department="69",
            sites=[
                reg.Site(
                    site_id=uuid.uuid4(),
                    name="Hôtel de ville",
                    kind=reg.SiteKind.MAIN,
                    address="1 place de la Mairie",
                    contact_points=reg.ContactPoints(phone="+33 4 00 00 00 00"),
                )
            ],
            participation=participation,
            options=reg.Options(),
            certifications=[reg.Certification.QUALIVILLES] if certified else [],
            status=reg.RegistrationStatus.IN_PANEL,
            registered_at=datetime(self.year, 2, 1, tzinfo=UTC),
        )
        structure = Structure(
            registered, {c: D(s) for c, s in channels.items()}, probes, self.catalog
        )
        self.structures.append(structure)
        self.registration_events.append(registered)
        return structure

    def site_added(self, structure: Structure, name: str) -> reg.SiteAdded:
        event = reg.SiteAdded(
            **self.common("registration"),
            registration_id=structure.registration.registration_id,
            site=reg.Site(
                site_id=uuid.uuid4(),
                name=name,
                kind=reg.SiteKind.ANNEX,
                address="2 rue de l'Annexe",
                contact_points=reg.ContactPoints(),
            ),
        )
        self.registration_events.append(event)
        return event

    def referential(self) -> audit.ReferentialPublished:
        """The edition's referential (the same event every time)."""
        if self._referential is None:
            self._referential = self._new_referential()
        return self._referential

    def _new_referential(self) -> audit.ReferentialPublished:
        items = [
            audit.Item.model_validate({**item, "answer": {"type": "yes_no"}})
            for item in self.catalog
        ]
        return audit.ReferentialPublished(
            **self.common("audit-ingest"),
            referential_version=1,
            referential_name="baro-default",
            description="test referential",
            determinants=[
                audit.Determinant(code=d, label=f"Determinant {d}", family=audit.Family.COURTESY)
                for d in sorted({item["determinant"] for item in self.catalog})
            ],
            items=items,
            published_at=datetime(self.year, 1, 5, tzinfo=UTC),
        )

    def document(self) -> dict[str, Any]:
        structures = sorted(
            (s.document() for s in self.structures), key=lambda s: s["registration_id"]
        )
        by_category: dict[str, list[dict[str, Any]]] = {}
        for s in structures:
            by_category.setdefault(s["category"], []).append(s)

        def mean_of(rows: list[dict[str, Any]], key: str = "global") -> dict[str, Any]:
            return {"score": _text(_mean([D(r[key]) for r in rows])), "structures": len(rows)}

        def channel_means(rows: list[dict[str, Any]]) -> dict[str, Any]:
            channels = sorted({c for r in rows for c in r["channels"]})
            return {
                c: {
                    "score": _text(
                        _mean([D(r["channels"][c]["score"]) for r in rows if c in r["channels"]])
                    ),
                    "structures": sum(1 for r in rows if c in r["channels"]),
                }
                for c in channels
            }

        rankings = {}
        for category, rows in sorted(by_category.items()):
            ranked = sorted((r for r in rows if r["complete"]), key=lambda r: -D(r["global"]))
            rankings[category] = [
                {
                    "rank": n,
                    "registration_id": r["registration_id"],
                    "name": r["name"],
                    "global": r["global"],
                    "processing": r["steps"].get("processing", {}).get("score"),
                    "complete": True,
                    "probes": r["probes"],
                    "planned": r["planned"],
                }
                for n, r in enumerate(ranked, start=1)
            ]
        laureates = [
            {**entries[0], "category": category}
            for category, entries in rankings.items()
            if entries
        ]
        return {
            "edition": self.year,
            "method": "baro-scoring-1",
            "structures": structures,
            "summary": {
                "national": mean_of(structures),
                "certified": mean_of([s for s in structures if s["certified"]]),
                "not_certified": mean_of([s for s in structures if not s["certified"]]),
                "categories": {c: mean_of(rows) for c, rows in sorted(by_category.items())},
                "category_channels": {
                    c: channel_means(rows) for c, rows in sorted(by_category.items())
                },
                "channels": channel_means(structures),
                "channel_probes": {
                    c: 4 * sum(1 for s in structures if c in s["channels"])
                    for c in sorted({c for s in structures for c in s["channels"]})
                },
                "rankings": rankings,
                "laureates": laureates,
                "kpis": {
                    "phone_answered_first_attempt": {
                        "channel": "phone",
                        "kind": "percent",
                        "label": "calls answered",
                        "numerator": 3 * len(structures),
                        "denominator": 4 * len(structures),
                        "value": "75",
                    },
                    "email_answered": {
                        "channel": "email",
                        "kind": "percent",
                        "label": "emails answered",
                        "numerator": 2 * len(structures),
                        "denominator": 3 * len(structures),
                        "value": str(D(200) / D(3)),
                    },
                },
            },
        }

    def published(
        self, document_text: bytes, *, fingerprint: str | None = None
    ) -> scoring.ResultsPublished:
        """The event scoring publishes for `document_text` (its fingerprint, unless given)."""
        last = {
            "registration": max(
                int(e.event_id.rpartition(":")[2]) for e in self.registration_events
            ),
            "audit-ingest": int(self.referential().event_id.rpartition(":")[2]),
        }
        return scoring.ResultsPublished(
            **self.common("scoring"),
            fingerprint=fingerprint or hashlib.sha256(document_text).hexdigest(),
            method="baro-scoring-1",
            included_through=last,
            structures=len(self.structures),
            national_score=D(json.loads(document_text)["summary"]["national"]["score"]),
            laureates=[],
            published_at=datetime(self.year, 12, 4, 10, 30, tzinfo=UTC),
            published_by="admin",
        )


def small_edition(year: int = 2027, siret_of: dict[str, str] | None = None) -> Edition:
    """Four structures in two categories: three paying, one free; one incomplete."""
    sirets = siret_of or {}
    edition = Edition(year)
    edition.structure(
        "Villeurbanne",
        {"phone": "80", "email": "60", "website": "70"},
        certified=True,
        siret=sirets.get("Villeurbanne"),
    )
    edition.structure(
        "Lyon", {"phone": "90", "email": "50", "website": "40"}, siret=sirets.get("Lyon")
    )
    edition.structure(
        "Bron",
        {"phone": "70", "email": "70", "website": "70"},
        category=reg.Category.CITY_20K_50K,
        participation=reg.Participation.FREE,
        siret=sirets.get("Bron"),
    )
    edition.structure(
        "Vénissieux",
        {"phone": "50", "email": "40", "website": "30"},
        category=reg.Category.CITY_20K_50K,
        probes=11,
        siret=sirets.get("Vénissieux"),
    )
    return edition


# --- the edition as the service holds it, or as its producers publish it ---------------


def facts_of(
    edition: Edition,
    *,
    earlier: list[Edition] = (),  # type: ignore[assignment]
    editorial: Editorial | None = None,
) -> EditionFacts:
    """An edition's facts as the service would hold them, without servers."""
    editions = [*earlier, edition]
    publications = []
    for position, e in enumerate(editions, start=1):
        text = canonical(e.document())
        event = e.published(text)
        publications.append(
            Publication(
                e.year,
                event.fingerprint,
                event.method,
                position,
                event.published_at,
                event.published_by,
                event.included_through,
                e.document(),
            )
        )
    bodies = [
        (producer_position(ev.event_id)[1], ev.model_dump_json())
        for e in editions
        for ev in e.registration_events
        if ev.event_type in KEPT_REGISTRATION_EVENTS
    ]
    referential = edition.referential()
    return edition_facts(
        publications[-1],
        bodies,
        [(producer_position(referential.event_id)[1], referential.model_dump_json())],
        publications[:-1],
        editorial or no_editorial(edition.year),
    )


def context_of(edition: Edition, **options: Any) -> EditionContext:
    return EditionContext(facts_of(edition, **options), TEMPLATE_VERSION)


async def put_document(nats_url: str, edition: int, fingerprint: str, text: bytes) -> None:
    nc = await nats.connect(nats_url)
    try:
        store = await ensure_object_store(nc.jetstream(), RESULTS_BUCKET, "test")
        await store.put(results_object_name(edition, fingerprint), text)
    finally:
        await nc.close()


def publish_edition(
    nats_url: str,
    edition: Edition,
    *,
    document_text: bytes | None = None,
    referential: bool = True,
) -> scoring.ResultsPublished:
    """What registration, audit-ingest and scoring publish for `edition`: registrations, a
    referential, the results document in the bucket and the publication event."""
    text = document_text if document_text is not None else canonical(edition.document())
    published = edition.published(canonical(edition.document()))
    events = [*edition.registration_events]
    if referential:
        events.append(edition.referential())

    async def run() -> None:
        await ensure_streams(nats_url, REGISTRATION_STREAM, AUDIT_STREAM, SCORING_STREAM)
        await publish_events(nats_url, events)
        await put_document(nats_url, edition.year, published.fingerprint, text)
        await publish_events(nats_url, [published])

    asyncio.run(run())
    return published
