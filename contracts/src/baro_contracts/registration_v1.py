"""registration.v1: the public events of the registration service, version 1.

Subjects are `registration.v1.<edition year>.<event name>` on the REGISTRATION stream.
Contacts (personal data) stay inside the registration service and are not published.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from baro_contracts.base import ContractEvent, ContractModel


class StructureKind(StrEnum):
    COMMUNE = "commune"
    INTERCOMMUNALITY = "intercommunality"
    DEPARTMENT = "department"
    REGION = "region"
    FRANCE_SERVICES = "france_services"
    SOCIAL_SERVICE = "social_service"
    TOURIST_OFFICE = "tourist_office"
    DEVELOPMENT_SERVICE = "development_service"
    LIBRARY = "library"
    HOSPITAL = "hospital"
    OTHER_PUBLIC = "other_public"


LOCAL_AUTHORITY_KINDS = frozenset(
    {
        StructureKind.COMMUNE,
        StructureKind.INTERCOMMUNALITY,
        StructureKind.DEPARTMENT,
        StructureKind.REGION,
    }
)
ANNEX_KINDS = frozenset({StructureKind.LIBRARY, StructureKind.HOSPITAL})


class Category(StrEnum):
    CITY_OVER_50K = "city_over_50k"
    CITY_20K_50K = "city_20k_50k"
    CITY_UNDER_20K = "city_under_20k"
    INTERCOMMUNALITY = "intercommunality"
    DEPARTMENT = "department"
    REGION = "region"
    FRANCE_SERVICES = "france_services"
    SOCIAL_SERVICES = "social_services"
    DEVELOPMENT_SERVICES = "development_services"
    OTHER_PUBLIC = "other_public"


class Participation(StrEnum):
    FREE = "free"
    PAID = "paid"


class Certification(StrEnum):
    QUALIVILLES = "qualivilles"
    LABEL_MARIANNE = "label_marianne"
    ISO_9001 = "iso_9001"
    SERVICES_PUBLICS_PLUS = "services_publics_plus"


class SiteKind(StrEnum):
    MAIN = "main"
    ANNEX = "annex"


class RegistrationStatus(StrEnum):
    AWAITING_FREE_PLACE = "awaiting_free_place"
    IN_PANEL = "in_panel"
    DECLINED = "declined"


class FreePlaceOutcome(StrEnum):
    GRANTED = "granted"
    DECLINED = "declined"


class ContactPoints(ContractModel):
    phone: str | None = None
    email: str | None = None
    postal_address: str | None = None
    website: str | None = None
    facebook: str | None = None
    x: str | None = None


class Site(ContractModel):
    site_id: UUID
    name: str
    kind: SiteKind
    address: str
    contact_points: ContactPoints


class Options(ContractModel):
    physical_visit: bool = False
    social_listening: bool = False
    oral_restitution: bool = False


class RegistrationEvent(ContractEvent):
    service: ClassVar[str] = "registration"
    version: ClassVar[int] = 1


class EditionOpened(RegistrationEvent):
    """An edition was created and opened for registration."""

    name: ClassVar[str] = "edition_opened"
    event_type: Literal["registration.v1.edition_opened"] = "registration.v1.edition_opened"
    registration_deadline: date = Field(description="Last day (Europe/Paris) to register.")
    audit_window_start: date
    audit_window_end: date
    free_places: int = Field(ge=0)


class StructureRegistered(RegistrationEvent):
    """A structure registered for an edition; everything billing, audit-ingest and scoring need."""

    name: ClassVar[str] = "structure_registered"
    event_type: Literal["registration.v1.structure_registered"] = (
        "registration.v1.structure_registered"
    )
    registration_id: UUID
    siret: str = Field(pattern=r"^[0-9]{14}$")
    structure_name: str
    kind: StructureKind
    category: Category
    population: int | None = Field(description="Inhabitants; set for local authorities.")
    department: str
    sites: list[Site]
    participation: Participation
    options: Options
    certifications: list[Certification]
    status: RegistrationStatus
    registered_at: datetime


class SiteAdded(RegistrationEvent):
    """A site was added to a registration before the deadline."""

    name: ClassVar[str] = "site_added"
    event_type: Literal["registration.v1.site_added"] = "registration.v1.site_added"
    registration_id: UUID
    site: Site


class FreePlaceDecided(RegistrationEvent):
    """At the close of registration, a free registration was granted a free place or declined."""

    name: ClassVar[str] = "free_place_decided"
    event_type: Literal["registration.v1.free_place_decided"] = "registration.v1.free_place_decided"
    registration_id: UUID
    outcome: FreePlaceOutcome
    rank: int = Field(ge=1, description="Position in the allocation order (1 = first served).")
    never_participated: bool
    status: RegistrationStatus


class SwitchedToPaid(RegistrationEvent):
    """A declined free registration switched to paid participation and joined the panel."""

    name: ClassVar[str] = "switched_to_paid"
    event_type: Literal["registration.v1.switched_to_paid"] = "registration.v1.switched_to_paid"
    registration_id: UUID
    participation: Participation
    options: Options
    status: RegistrationStatus


class OrderFormSigned(RegistrationEvent):
    """The structure signed and returned its order form."""

    name: ClassVar[str] = "order_form_signed"
    event_type: Literal["registration.v1.order_form_signed"] = "registration.v1.order_form_signed"
    registration_id: UUID
    signed_by: str
    signed_at: datetime


class RegistrationClosed(RegistrationEvent):
    """Registration for the edition closed and its free places were allocated.

    It counts the decisions; each one is its registration's `free_place_decided`, published
    after this event. Closes published before editions could reach 40,000 registrations
    listed them here too (an event listing 40,000 ids would pass NATS's 1 MiB limit).
    """

    name: ClassVar[str] = "registration_closed"
    event_type: Literal["registration.v1.registration_closed"] = (
        "registration.v1.registration_closed"
    )
    closed_at: datetime
    free_places: int
    granted_count: int = Field(ge=0, description="Free registrations granted a free place.")
    declined_count: int = Field(ge=0, description="Free registrations declined one.")
    granted: list[UUID] = Field(
        default_factory=list,
        description="Only in closes published before the counts: the granted registrations.",
    )
    declined: list[UUID] = Field(
        default_factory=list,
        description="Only in closes published before the counts: the declined registrations.",
    )
    panel_size: int = Field(description="Registrations in the panel: paid plus granted.")

    @model_validator(mode="before")
    @classmethod
    def _counts_of_listed_decisions(cls, data: Any) -> Any:
        """A close published with the lists but without the counts counts its lists."""
        if isinstance(data, dict):
            for outcome in ("granted", "declined"):
                if f"{outcome}_count" not in data and outcome in data:
                    data = {**data, f"{outcome}_count": len(data[outcome])}
        return data


EVENTS: tuple[type[RegistrationEvent], ...] = (
    EditionOpened,
    StructureRegistered,
    SiteAdded,
    FreePlaceDecided,
    SwitchedToPaid,
    OrderFormSigned,
    RegistrationClosed,
)
