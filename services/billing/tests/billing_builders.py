"""Registration's contract events as billing receives them, for the billing tests."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from baro_contracts import registration_v1 as reg

YEAR = 2025
Feed = Callable[..., list[Any]]
"""Applies registration.v1 events as billing's consumer does."""
_POSITIONS = itertools.count(1)


def common(year: int = YEAR) -> dict[str, Any]:
    return {
        "event_id": f"registration:{next(_POSITIONS)}",
        "occurred_at": datetime(year, 2, 1, 9, tzinfo=UTC),
        "edition": year,
    }


def edition_opened(year: int = YEAR) -> reg.EditionOpened:
    return reg.EditionOpened(
        **common(year),
        registration_deadline=date(year, 3, 15),
        audit_window_start=date(year, 4, 1),
        audit_window_end=date(year, 5, 31),
        free_places=10,
    )


def site(name: str = "Hôtel de ville", kind: reg.SiteKind = reg.SiteKind.MAIN) -> reg.Site:
    return reg.Site(
        site_id=uuid.uuid4(),
        name=name,
        kind=kind,
        address="1 place de la Mairie, 40100 Dax",
        contact_points=reg.ContactPoints(phone="+33 5 58 00 00 00"),
    )


def registered(
    name: str = "Mairie de Dax",
    *,
    kind: reg.StructureKind = reg.StructureKind.COMMUNE,
    population: int | None = 20_000,
    participation: reg.Participation = reg.Participation.PAID,
    restitution: bool = False,
    sites: list[reg.Site] | None = None,
    year: int = YEAR,
) -> reg.StructureRegistered:
    paid = participation is reg.Participation.PAID
    return reg.StructureRegistered(
        **common(year),
        registration_id=uuid.uuid4(),
        siret="21400088800017",
        structure_name=name,
        kind=kind,
        category=reg.Category.CITY_20K_50K,
        population=population,
        department="40",
        sites=sites if sites is not None else [site()],
        participation=participation,
        options=reg.Options(oral_restitution=restitution),
        certifications=[],
        status=reg.RegistrationStatus.IN_PANEL
        if paid
        else reg.RegistrationStatus.AWAITING_FREE_PLACE,
        registered_at=datetime(year, 2, 1, 9, tzinfo=UTC),
    )


def site_added(structure: reg.StructureRegistered, added: reg.Site) -> reg.SiteAdded:
    return reg.SiteAdded(
        **common(structure.edition), registration_id=structure.registration_id, site=added
    )


def switched_to_paid(
    structure: reg.StructureRegistered, *, restitution: bool = False
) -> reg.SwitchedToPaid:
    return reg.SwitchedToPaid(
        **common(structure.edition),
        registration_id=structure.registration_id,
        participation=reg.Participation.PAID,
        options=reg.Options(oral_restitution=restitution),
        status=reg.RegistrationStatus.IN_PANEL,
    )


def order_form_signed(structure: reg.StructureRegistered) -> reg.OrderFormSigned:
    return reg.OrderFormSigned(
        **common(structure.edition),
        registration_id=structure.registration_id,
        signed_by="Jeanne Martin, maire",
        signed_at=datetime(structure.edition, 2, 20, 10, tzinfo=UTC),
    )
