"""Contract events for the scoring tests: a small hand-made referential whose scores can be
computed by hand, structures, plans, probes and corrections; and publishing them to NATS as
registration and audit-ingest do."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from baro_chassis.testing import eventually as eventually  # re-exported for the scoring tests
from baro_chassis.testing import publish_events
from baro_contracts import audit_v1 as audit
from baro_contracts import registration_v1 as reg
from baro_contracts.base import ContractEvent

YEAR = 2027
D = Decimal


def _item(
    code: str,
    channel: str,
    step: str,
    determinant: str,
    answer: dict[str, Any],
    weight: str = "1",
    measure: str | None = None,
) -> audit.Item:
    return audit.Item.model_validate(
        {
            "code": code,
            "label": f"item {code}",
            "channel": channel,
            "step": step,
            "determinant": determinant,
            "weight": weight,
            "measure": measure,
            "answer": answer,
        }
    )


YES_NO = {"type": "yes_no"}
RINGS = {
    "type": "measure",
    "unit": "rings",
    "minimum": 0,
    "maximum": 100,
    "thresholds": [{"up_to": 3, "score": "1"}, {"up_to": 5, "score": "0.5"}],
    "otherwise": "0",
}
COMPLETENESS = {"type": "choice", "choices": {"complete": "1", "partial": "0.5", "none": "0"}}

# Hand-computable: phone has a yes/no (weight 1), a rings measure (weight 2) and a choice;
# email a heavy yes/no (weight 3) and a processing yes/no; website one yes/no.
HAND_ITEMS = [
    _item("PHO-ACC-01", "phone", "access", "D01", YES_NO),
    _item("PHO-ACC-02", "phone", "access", "D02", RINGS, weight="2", measure="rings"),
    _item("PHO-PRO-01", "phone", "processing", "D03", COMPLETENESS),
    _item("EMA-INF-01", "email", "information", "D01", YES_NO, weight="3"),
    _item("EMA-PRO-01", "email", "processing", "D03", YES_NO),
    _item("WEB-ACC-01", "website", "access", "D02", YES_NO),
    _item("VIS-ACC-01", "visit", "access", "D01", YES_NO),
]
DETERMINANTS = [
    audit.Determinant(code="D01", label="Accessibility", family=audit.Family.ACCESSIBILITY),
    audit.Determinant(code="D02", label="Waiting", family=audit.Family.WAITING_MANAGEMENT),
    audit.Determinant(code="D03", label="Answer quality", family=audit.Family.ANSWER_QUALITY),
]

PERFECT: dict[str, dict[str, Any]] = {
    "phone": {"PHO-ACC-01": True, "PHO-ACC-02": 2, "PHO-PRO-01": "complete"},
    "email": {"EMA-INF-01": True, "EMA-PRO-01": True},
    "website": {"WEB-ACC-01": True},
    "visit": {"VIS-ACC-01": True},
}


# A producer numbers its events across editions: one counter each for the whole suite.
_POSITIONS = {"registration": itertools.count(1), "audit": itertools.count(1)}
_SIRETS = itertools.count(1)


class Events:
    """Events of one edition, numbered per producer as their relays number them."""

    def __init__(self, year: int = YEAR) -> None:
        self.year = year
        self._positions = _POSITIONS
        self._siret = _SIRETS
        # Ids drawn from a fixed seed: the same builder calls give the same results, so a
        # test can pin a fingerprint.
        self._ids = random.Random(year)

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self._ids.getrandbits(128), version=4)

    def common(self, producer: str) -> dict[str, Any]:
        return {
            "event_id": f"{producer}:{next(self._positions[producer])}",
            "occurred_at": datetime(self.year, 2, 1, 9, tzinfo=UTC),
            "edition": self.year,
        }

    # --- registration.v1 ------------------------------------------------------------------

    def edition_opened(self) -> reg.EditionOpened:
        return reg.EditionOpened(
            **self.common("registration"),
            registration_deadline=date(self.year, 3, 15),
            audit_window_start=date(self.year, 4, 1),
            audit_window_end=date(self.year, 5, 31),
            free_places=10,
        )

    def structure(
        self,
        name: str = "Villeurbanne",
        *,
        category: reg.Category = reg.Category.CITY_OVER_50K,
        participation: reg.Participation = reg.Participation.PAID,
        certified: bool = False,
        visit: bool = False,
    ) -> reg.StructureRegistered:
        paid = participation is reg.Participation.PAID
        return reg.StructureRegistered(
            **self.common("registration"),
            registration_id=self.new_id(),
            siret=f"{next(self._siret):014d}",
            structure_name=name,
            kind=reg.StructureKind.COMMUNE,
            category=category,
            population=150_000,
            department="69",
            sites=[
                reg.Site(
                    site_id=self.new_id(),
                    name="Town hall",
                    kind=reg.SiteKind.MAIN,
                    address="1 place de la Mairie",
                    contact_points=reg.ContactPoints(phone="+33 4 00 00 00 00"),
                )
            ],
            participation=participation,
            options=reg.Options(physical_visit=visit),
            certifications=[reg.Certification.QUALIVILLES] if certified else [],
            status=(
                reg.RegistrationStatus.IN_PANEL
                if paid
                else reg.RegistrationStatus.AWAITING_FREE_PLACE
            ),
            registered_at=datetime(self.year, 2, 1, 9, tzinfo=UTC),
        )

    def free_place_granted(self, structure: reg.StructureRegistered) -> reg.FreePlaceDecided:
        return reg.FreePlaceDecided(
            **self.common("registration"),
            registration_id=structure.registration_id,
            outcome=reg.FreePlaceOutcome.GRANTED,
            rank=1,
            never_participated=True,
            status=reg.RegistrationStatus.IN_PANEL,
        )

    def switched_to_paid(self, structure: reg.StructureRegistered) -> reg.SwitchedToPaid:
        return reg.SwitchedToPaid(
            **self.common("registration"),
            registration_id=structure.registration_id,
            participation=reg.Participation.PAID,
            options=reg.Options(),
            status=reg.RegistrationStatus.IN_PANEL,
        )

    # --- audit.v1 -------------------------------------------------------------------------

    def referential(
        self, version: int = 1, items: list[audit.Item] | None = None
    ) -> audit.ReferentialPublished:
        return audit.ReferentialPublished(
            **self.common("audit"),
            referential_version=version,
            referential_name=f"hand-made v{version}",
            description="A referential small enough to score by hand",
            determinants=DETERMINANTS,
            items=items or HAND_ITEMS,
            published_at=datetime(self.year, 1, 10, tzinfo=UTC),
        )

    def plan(self, structure: reg.StructureRegistered, *channels: str) -> audit.PlanIssued:
        site = structure.sites[0].site_id
        return audit.PlanIssued(
            **self.common("audit"),
            registration_id=structure.registration_id,
            seed="test",
            channel_mix={c: channels.count(c) for c in set(channels)},
            probes=[
                audit.PlannedProbe(
                    slot=slot,
                    channel=channel,
                    site_id=site,
                    planned_on=date(self.year, 4, 1) + timedelta(days=slot),
                    auditor_id="MC-001",
                )
                for slot, channel in enumerate(channels, start=1)
            ],
            issued_at=datetime(self.year, 3, 16, tzinfo=UTC),
        )

    def probe(
        self,
        structure: reg.StructureRegistered,
        channel: str,
        answers: dict[str, Any] | None = None,
        *,
        slot: int = 1,
        measures: dict[str, Any] | None = None,
        referential_version: int = 1,
    ) -> audit.ProbeRecorded:
        return audit.ProbeRecorded(
            **self.common("audit"),
            probe_id=self.new_id(),
            registration_id=structure.registration_id,
            site_id=structure.sites[0].site_id,
            channel=channel,
            slot=slot,
            auditor_id="MC-001",
            performed_at=datetime(self.year, 4, 2, 10, tzinfo=UTC),
            referential_version=referential_version,
            answers=PERFECT[channel] if answers is None else answers,
            measures=measures or {},
            recorded_at=datetime(self.year, 4, 2, 11, tzinfo=UTC),
            recorded_by="MC-001",
        )

    def correction(
        self,
        probe: audit.ProbeRecorded,
        revision: int = 2,
        answers: dict[str, Any] | None = None,
        measures: dict[str, Any] | None = None,
    ) -> audit.ProbeCorrected:
        return audit.ProbeCorrected(
            **self.common("audit"),
            probe_id=probe.probe_id,
            registration_id=probe.registration_id,
            revision=revision,
            answers=answers or {},
            measures=measures or {},
            reason="the auditor misread the call log",
            corrected_by="admin",
            corrected_at=datetime(self.year, 4, 20, tzinfo=UTC),
        )


publish = publish_events  # the scoring tests' name for it


def publish_now(nats_url: str, *events: ContractEvent, msg_id: bool = True) -> None:
    asyncio.run(publish_events(nats_url, events, msg_id=msg_id))


def scores_when(
    client: TestClient, headers: dict[str, str], registration_id: Any, probes: int, year: int = YEAR
) -> dict[str, Any]:
    """The structure's scores once `probes` probes of it are counted."""

    def ready() -> dict[str, Any] | None:
        response = client.get(f"/editions/{year}/scores/{registration_id}", headers=headers)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if body.get("probes", {}).get("received") == probes else None

    result: dict[str, Any] = eventually(ready)
    return result


def last_positions(events: Iterable[ContractEvent]) -> dict[str, int]:
    """Per producer, the highest position among these events."""
    last: dict[str, int] = {}
    for event in events:
        producer, _, position = event.event_id.rpartition(":")
        last[producer] = max(last.get(producer, 0), int(position))
    return last


def campaign(events: Events) -> tuple[list[ContractEvent], list[reg.StructureRegistered]]:
    """A small edition: two paid cities over 50k (one certified), a free city under 20k
    granted a place; each planned phone + email, every probe in."""
    lyon = events.structure("Lyon", certified=True)
    brest = events.structure("Brest")
    vire = events.structure(
        "Vire", category=reg.Category.CITY_UNDER_20K, participation=reg.Participation.FREE
    )
    out: list[ContractEvent] = [events.edition_opened(), lyon, brest, vire]
    out.append(events.free_place_granted(vire))
    out.append(events.referential())
    for structure, rings in ((lyon, 2), (brest, 4), (vire, 9)):
        out.append(events.plan(structure, "phone", "email"))
        answers = {**PERFECT["phone"], "PHO-ACC-02": rings}
        out.append(events.probe(structure, "phone", answers, slot=1, measures={"rings": rings}))
        out.append(events.probe(structure, "email", slot=2, measures={"answered": True}))
    return out, [lyon, brest, vire]
