"""The HTTP API's request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from baro_chassis.bounds import MAX_POPULATION, EditionYear
from baro_contracts.registration_v1 import (
    Category,
    Certification,
    FreePlaceOutcome,
    Participation,
    RegistrationStatus,
    SiteKind,
    StructureKind,
)
from baro_registration.contact_access_log import AccessEntry, Action
from baro_registration.contacts import ContactsRecord
from baro_registration.domain import Edition, Registration, siret_problem


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


MAX_FREE_PLACES = 10_000
"""Free places are counted in tens (the panel of 2025 had a few hundred structures)."""
MAX_SITES = 100
"""A structure's main site and its annexes: a large city has a few dozen town halls."""


class EditionIn(Body):
    year: EditionYear
    registration_deadline: date = Field(description="Last day (Europe/Paris) to register.")
    audit_window_start: date
    audit_window_end: date
    free_places: int = Field(ge=0, le=MAX_FREE_PLACES)


class EditionOut(BaseModel):
    year: int
    registration_deadline: date
    audit_window_start: date
    audit_window_end: date
    free_places: int
    status: str = Field(description="open or closed")
    registrations: int
    closed_at: datetime | None
    granted: int
    declined: int
    panel_size: int | None

    @classmethod
    def of(cls, edition: Edition, registrations: int) -> EditionOut:
        return cls(
            year=edition.year,
            registration_deadline=edition.registration_deadline,
            audit_window_start=edition.audit_window_start,
            audit_window_end=edition.audit_window_end,
            free_places=edition.free_places,
            status="closed" if edition.closed_at else "open",
            registrations=registrations,
            closed_at=edition.closed_at,
            granted=edition.granted_count,
            declined=edition.declined_count,
            panel_size=edition.panel_size,
        )


PHONE = r"^\+?[0-9][0-9 .\-]{5,19}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ContactIn(Body):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=254)
    phone: str = Field(pattern=PHONE)


class ContactsIn(Body):
    referrer: ContactIn | None = None
    decision_maker: ContactIn | None = None

    def domain_fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ContactOut(BaseModel):
    name: str
    email: str
    phone: str | None = Field(
        default=None, description="Absent for roles that do not need it (finance)"
    )


class ErasureOut(BaseModel):
    erased_at: datetime
    erased_by: str = Field(description="The role that erased them: admin or structure")


class ContactsOut(BaseModel):
    """A registration's contacts as the caller's role may see them (services/registration/
    README.md): admin and the structure see all, finance the order form's signer's name and
    email, once erased none."""

    referrer: ContactOut | None
    decision_maker: ContactOut | None
    erased: ErasureOut | None = Field(description="When and by whom they were erased, if so")

    @classmethod
    def of(cls, record: ContactsRecord) -> ContactsOut:
        contacts = record.contacts
        erasure = record.erasure
        return cls(
            referrer=ContactOut(**contacts["referrer"]) if contacts.get("referrer") else None,
            decision_maker=ContactOut(**contacts["decision_maker"])
            if contacts.get("decision_maker")
            else None,
            erased=ErasureOut(erased_at=erasure.erased_at, erased_by=erasure.role)
            if erasure
            else None,
        )


class AccessEntryOut(BaseModel):
    action: Action
    fields: list[str] = Field(description="The contact fields read, changed or erased")
    role: str
    subject: str = Field(description="The subject of the token used")
    at: datetime

    @classmethod
    def of(cls, entry: AccessEntry) -> AccessEntryOut:
        return cls(
            action=entry.action,
            fields=entry.fields,
            role=entry.actor_role,
            subject=entry.actor_subject,
            at=entry.at,
        )


class ContactPointsIn(Body):
    phone: str | None = Field(default=None, pattern=PHONE)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    postal_address: str | None = Field(default=None, max_length=500)
    website: str | None = Field(default=None, max_length=500)
    facebook: str | None = Field(default=None, max_length=500)
    x: str | None = Field(default=None, max_length=500)


class SiteIn(Body):
    name: str = Field(min_length=1, max_length=200)
    kind: SiteKind = SiteKind.MAIN
    address: str = Field(min_length=1, max_length=500)
    contact_points: ContactPointsIn = ContactPointsIn()


class OptionsIn(Body):
    physical_visit: bool = False
    social_listening: bool = False
    oral_restitution: bool = False


class RegistrationIn(Body):
    siret: str = Field(description="14 digits; spaces are ignored", examples=["21690266800013"])
    name: str = Field(min_length=1, max_length=300, description="The structure's legal name")
    kind: StructureKind
    population: int | None = Field(
        default=None, ge=1, le=MAX_POPULATION, description="Required for local authorities"
    )
    department: str = Field(
        pattern=r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$",
        description="INSEE department code, e.g. 69, 2A, 974",
    )
    contacts: ContactsIn
    sites: list[SiteIn] = Field(max_length=MAX_SITES)
    participation: Participation
    options: OptionsIn = OptionsIn()
    certifications: list[Certification] = Field(default=[], max_length=len(Certification))

    @field_validator("siret", mode="before")
    @classmethod
    def valid_siret(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(" ", "")
            problem = siret_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    def domain_fields(self) -> dict[str, Any]:
        return {
            "siret": self.siret,
            "name": self.name,
            "kind": self.kind,
            "population": self.population,
            "department": self.department,
            "contacts": self.contacts.domain_fields(),
            "sites": [s.model_dump(mode="json") for s in self.sites],
            "participation": self.participation,
            "options": self.options.model_dump(),
            "certifications": [c.value for c in self.certifications],
        }


class SignatureIn(Body):
    signed_by: str = Field(min_length=1, max_length=200, description="Who signed for the structure")


class SwitchToPaidIn(Body):
    options: OptionsIn | None = None


class SiteOut(BaseModel):
    site_id: UUID
    name: str
    kind: SiteKind
    address: str
    contact_points: dict[str, str | None]


class FreePlaceOut(BaseModel):
    outcome: FreePlaceOutcome
    rank: int
    never_participated: bool


class OrderFormOut(BaseModel):
    signed_by: str
    signed_at: datetime


class RegistrationOut(BaseModel):
    registration_id: UUID
    edition: int
    siret: str
    name: str
    kind: StructureKind
    category: Category
    population: int | None
    department: str
    contacts: ContactsOut | None = Field(
        description="As the caller's role may see them; null in listings (read one "
        "registration or its /contacts)"
    )
    sites: list[SiteOut]
    participation: Participation
    options: OptionsIn
    certifications: list[Certification]
    status: RegistrationStatus
    registered_at: datetime
    free_place: FreePlaceOut | None
    order_form: OrderFormOut | None

    @classmethod
    def of(
        cls, registration: Registration, contacts: ContactsRecord | None = None
    ) -> RegistrationOut:
        return cls(
            registration_id=registration.id,
            edition=registration.year,
            siret=registration.siret,
            name=registration.name,
            kind=StructureKind(registration.kind),
            category=Category(registration.category),
            population=registration.population,
            department=registration.department,
            contacts=ContactsOut.of(contacts) if contacts is not None else None,
            sites=[SiteOut.model_validate(s) for s in registration.sites],
            participation=Participation(registration.participation),
            options=OptionsIn(**registration.options),
            certifications=[Certification(c) for c in registration.certifications],
            status=RegistrationStatus(registration.status),
            registered_at=registration.registered_at,
            free_place=FreePlaceOut(**registration.free_place) if registration.free_place else None,
            order_form=OrderFormOut(**registration.order_form) if registration.order_form else None,
        )


class RegisteredOut(RegistrationOut):
    structure_token: str = Field(
        description="A bearer token scoped to this registration, for the structure itself"
    )


class ClosedOut(BaseModel):
    edition: EditionOut
    allocations: list[dict[str, Any]]
