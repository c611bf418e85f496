"""Registration events, valid probe bodies and plan lookups for the audit-ingest tests."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from baro_audit_ingest.referential import default_referential
from baro_chassis.auth import Role, issue_token
from baro_chassis.testing import TEST_JWT_SECRET
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel, ChoiceAnswer, Item, MeasureAnswer

YEAR = 2027
WINDOW_START = date(2027, 4, 1)
WINDOW_END = date(2027, 5, 31)
_positions = itertools.count(1)

Feed = Callable[..., list[Any]]
"""Applies registration.v1 events to the application, as its consumer would."""


def _common(year: int = YEAR) -> dict[str, Any]:
    return {
        "event_id": f"registration:{next(_positions)}",
        "occurred_at": datetime(2027, 1, 15, 9, tzinfo=UTC),
        "edition": year,
    }


def edition_opened(year: int = YEAR) -> reg.EditionOpened:
    return reg.EditionOpened(
        **_common(year),
        registration_deadline=date(year, 3, 15),
        audit_window_start=WINDOW_START.replace(year=year),
        audit_window_end=WINDOW_END.replace(year=year),
        free_places=40,
    )


def site(kind: reg.SiteKind = reg.SiteKind.MAIN, name: str = "Town hall") -> reg.Site:
    return reg.Site(
        site_id=uuid.uuid4(),
        name=name,
        kind=kind,
        address="1 place de la Mairie, 69100 Villeurbanne",
        contact_points=reg.ContactPoints(phone="+33 4 00 00 00 00"),
    )


def structure_registered(
    *,
    participation: reg.Participation = reg.Participation.PAID,
    physical_visit: bool = False,
    sites: list[reg.Site] | None = None,
    year: int = YEAR,
) -> reg.StructureRegistered:
    paid = participation is reg.Participation.PAID
    return reg.StructureRegistered(
        **_common(year),
        registration_id=uuid.uuid4(),
        siret="21690266800013",
        structure_name="Villeurbanne",
        kind=reg.StructureKind.COMMUNE,
        category=reg.Category.CITY_OVER_50K,
        population=150_000,
        department="69",
        sites=sites or [site()],
        participation=participation,
        options=reg.Options(physical_visit=physical_visit),
        certifications=[],
        status=reg.RegistrationStatus.IN_PANEL
        if paid
        else reg.RegistrationStatus.AWAITING_FREE_PLACE,
        registered_at=datetime(2027, 2, 1, 9, tzinfo=UTC),
    )


def registration_closed(
    granted: list[uuid.UUID] = (), declined: list[uuid.UUID] = (), year: int = YEAR
) -> reg.RegistrationClosed:
    return reg.RegistrationClosed(
        **_common(year),
        closed_at=datetime(year, 3, 16, 9, tzinfo=UTC),
        free_places=40,
        granted=list(granted),
        declined=list(declined),
        panel_size=0,
    )


def free_place_decided(
    registration_id: uuid.UUID, outcome: reg.FreePlaceOutcome, year: int = YEAR
) -> reg.FreePlaceDecided:
    granted = outcome is reg.FreePlaceOutcome.GRANTED
    return reg.FreePlaceDecided(
        **_common(year),
        registration_id=registration_id,
        outcome=outcome,
        rank=1,
        never_participated=True,
        status=reg.RegistrationStatus.IN_PANEL if granted else reg.RegistrationStatus.DECLINED,
    )


def good_value(item: Item) -> Any:
    spec = item.answer
    if isinstance(spec, MeasureAnswer):
        return spec.minimum
    if isinstance(spec, ChoiceAnswer):
        return next(iter(spec.choices))
    return True


GOOD_MEASURES: dict[Channel, dict[str, Any]] = {
    Channel.PHONE: {
        "answered_first_attempt": True,
        "rings": 0,
        "waiting_seconds": 0,
        "polite_formula": True,
    },
    Channel.EMAIL: {"answered": True, "reply_delay_hours": 0, "polite_formula": True},
    Channel.MAIL: {"answered": True, "reply_delay_days": 0, "polite_formula": True},
    Channel.SOCIAL: {
        "network": "facebook",
        "answered": True,
        "reply_delay_hours": 0,
        "polite_formula": True,
    },
    Channel.WEBSITE: {
        "rgaa_compliant": True,
        "satisfaction_synthesis_published": True,
        "navigation_help": True,
        "online_procedures": True,
    },
    Channel.VISIT: {"waiting_seconds": 0},
}


def answers_for(channel: Channel) -> dict[str, Any]:
    """A valid answer to every item of the default referential on `channel`."""
    return {i.code: good_value(i) for i in default_referential().items_by_channel[channel]}


def probe_body(
    registration: reg.StructureRegistered,
    channel: Channel = Channel.PHONE,
    *,
    performed_at: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "probe_id": str(uuid.uuid4()),
        "registration_id": str(registration.registration_id),
        "site_id": str(registration.sites[0].site_id),
        "channel": channel.value,
        "auditor_id": "MC-007",
        "performed_at": (
            performed_at or datetime.combine(date(registration.edition, 4, 10), time(10), UTC)
        ).isoformat(),
        "answers": answers_for(channel),
        "measures": dict(GOOD_MEASURES[channel]),
    }
    body.update(overrides)
    return body


def assert_refused(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    """The response is a JSON refusal with that status whose message names each fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "errors"}
    text = body["message"] + " ".join(e["reason"] + str(e["field"]) for e in body["errors"])
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return dict(body)


def switched_to_paid(
    registration_id: uuid.UUID, *, physical_visit: bool = False, year: int = YEAR
) -> reg.SwitchedToPaid:
    return reg.SwitchedToPaid(
        **_common(year),
        registration_id=registration_id,
        participation=reg.Participation.PAID,
        options=reg.Options(physical_visit=physical_visit),
        status=reg.RegistrationStatus.IN_PANEL,
    )


def referential_body(name: str = "baro-2027") -> dict[str, Any]:
    """The default referential as a PUT body (a fresh copy each time, safe to change)."""
    body = default_referential().to_json()
    body["name"] = name
    return body


def headers_as(subject: str, role: Role) -> dict[str, str]:
    """Authorization for one named person (tokens.auditor's subject is just 'auditor')."""
    token = issue_token(TEST_JWT_SECRET, roles=(role,), subject=subject)
    return {"Authorization": f"Bearer {token}"}


def get_plan(
    client: TestClient, headers: dict[str, str], registration_id: object, year: int = YEAR
) -> Response:
    return client.get(f"/editions/{year}/plans/{registration_id}", headers=headers)


def get_probe(
    client: TestClient, headers: dict[str, str], probe_id: object, year: int = YEAR
) -> Response:
    return client.get(f"/editions/{year}/probes/{probe_id}", headers=headers)


def post_probe(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], year: int = YEAR
) -> Response:
    return client.post(f"/editions/{year}/probes", json=body, headers=headers)


def site_added(registration_id: uuid.UUID, added: reg.Site, year: int = YEAR) -> reg.SiteAdded:
    return reg.SiteAdded(**_common(year), registration_id=registration_id, site=added)
