"""Editions, registrations and structures: the rules of registration, with no I/O.

Public commands validate first, then record one event through a private `@event` method,
so a refused command leaves an aggregate exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from baro_chassis.bounds import FIRST_EDITION, LAST_EDITION
from baro_contracts.registration_v1 import (
    LOCAL_AUTHORITY_KINDS,
    Category,
    FreePlaceOutcome,
    Participation,
    RegistrationStatus,
    StructureKind,
)
from baro_registration.contact_sealing import is_sealed

PARIS = ZoneInfo("Europe/Paris")
NAMESPACE = UUID("5c0f7a4e-6d3b-4b8e-9a61-2f1c0e9d7b42")
LA_POSTE_SIREN = "356000000"
LA_POSTE_HEAD_OFFICE = "35600000000048"


class RegistrationError(Exception):
    """A command the rules refuse; `field` names the input at fault when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRegistration(RegistrationError):
    """The input breaks a rule of registration (422)."""


class RegistrationConflict(RegistrationError):
    """The request is well formed but the current state refuses it (409)."""


class NotFound(RegistrationError):
    """The edition or registration does not exist (404)."""


class ContactsErased(RegistrationError):
    """The registration's contacts were erased: they cannot be read or corrected (410)."""


Seal = Callable[[dict[str, Any]], dict[str, Any]]
"""Encrypts a registration's contacts for the event store (see contact_sealing)."""


def _luhn_valid(digits: list[int]) -> bool:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def siret_problem(siret: str) -> str | None:
    """Why `siret` is not a valid SIRET number, or None when it is.

    The Luhn checksum, except for La Poste's establishments (SIREN 356000000), whose digits
    add up to a multiple of 5 instead; La Poste's head office passes the Luhn check.
    """
    if not re.fullmatch(r"[0-9]{14}", siret):
        return "a SIRET is exactly 14 digits (0-9), without spaces or letters"
    digits = [int(c) for c in siret]
    if siret.startswith(LA_POSTE_SIREN) and siret != LA_POSTE_HEAD_OFFICE:
        if sum(digits) % 5 == 0:
            return None
        return "La Poste SIRETs (SIREN 356000000) must have a digit sum divisible by 5"
    if _luhn_valid(digits):
        return None
    return "the SIRET fails its checksum (Luhn): check for a mistyped digit"


def category_of(kind: StructureKind, population: int | None) -> Category:
    if kind is StructureKind.COMMUNE:
        assert population is not None
        if population >= 50_000:
            return Category.CITY_OVER_50K
        if population >= 20_000:
            return Category.CITY_20K_50K
        return Category.CITY_UNDER_20K
    return {
        StructureKind.INTERCOMMUNALITY: Category.INTERCOMMUNALITY,
        StructureKind.DEPARTMENT: Category.DEPARTMENT,
        StructureKind.REGION: Category.REGION,
        StructureKind.FRANCE_SERVICES: Category.FRANCE_SERVICES,
        StructureKind.SOCIAL_SERVICE: Category.SOCIAL_SERVICES,
        StructureKind.TOURIST_OFFICE: Category.DEVELOPMENT_SERVICES,
        StructureKind.DEVELOPMENT_SERVICE: Category.DEVELOPMENT_SERVICES,
    }.get(kind, Category.OTHER_PUBLIC)


class Edition(Aggregate):
    """One yearly campaign: its dates, its free places, and its close.

    Registering does not write the edition, so that registrations do not queue on its version
    and it stays as small at 40,000 registrations as at 4: the application lists and counts an
    edition's registrations in its membership table (see edition_gate for how a registration
    and the close are kept apart), and each decision of the close is its registration's event.
    """

    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots taken when the edition listed its registrations and decisions."""
        state["registered_count"] = len(state.pop("registration_ids"))
        state["granted_count"] = len(state.pop("granted"))
        state["declined_count"] = len(state.pop("declined"))

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """Snapshots taken when the edition counted its registrations."""
        state.pop("registered_count", None)

    class Closed(Aggregate.Event):
        closed_at: datetime
        granted_count: int
        declined_count: int
        panel_size: int

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Closes recorded with the lists of granted and declined registrations."""
            state["granted_count"] = len(state.pop("granted"))
            state["declined_count"] = len(state.pop("declined"))

    @staticmethod
    def create_id(year: int) -> UUID:
        return uuid5(NAMESPACE, f"edition/{year}")

    @classmethod
    def open(
        cls,
        *,
        year: int,
        registration_deadline: date,
        audit_window_start: date,
        audit_window_end: date,
        free_places: int,
    ) -> Edition:
        if not FIRST_EDITION <= year <= LAST_EDITION:
            raise InvalidRegistration(
                f"the year must be between {FIRST_EDITION} and {LAST_EDITION}", "year"
            )
        if audit_window_end <= audit_window_start:
            raise InvalidRegistration(
                "the audit window must end after it starts", "audit_window_end"
            )
        if registration_deadline >= audit_window_start:
            raise InvalidRegistration(
                "registration must close before the audit window starts",
                "registration_deadline",
            )
        if free_places < 0:
            raise InvalidRegistration("free places cannot be negative", "free_places")
        return cls(
            year=year,
            registration_deadline=registration_deadline,
            audit_window_start=audit_window_start,
            audit_window_end=audit_window_end,
            free_places=free_places,
        )

    @event("Opened")
    def __init__(
        self,
        *,
        year: int,
        registration_deadline: date,
        audit_window_start: date,
        audit_window_end: date,
        free_places: int,
    ) -> None:
        self.year = year
        self.registration_deadline = registration_deadline
        self.audit_window_start = audit_window_start
        self.audit_window_end = audit_window_end
        self.free_places = free_places
        self.closed_at: datetime | None = None
        self.granted_count = 0
        self.declined_count = 0
        self.panel_size: int | None = None

    @property
    def deadline_end(self) -> datetime:
        """The last instant of the deadline day, Paris time."""
        return datetime.combine(self.registration_deadline, time.max, tzinfo=PARIS)

    def ensure_open(self, at: datetime) -> None:
        if self.closed_at is not None:
            raise RegistrationConflict(
                f"registration for edition {self.year} is closed: no new registration or site"
            )
        if at > self.deadline_end:
            raise RegistrationConflict(
                f"the registration deadline of edition {self.year} "
                f"({self.registration_deadline.isoformat()}) has passed"
            )

    @event("RegistrationAdmitted")
    def _admitted(self, registration_id: UUID) -> None:
        """Recorded at each registration before registrations were listed in the membership
        table; read back from an older store it changes nothing (the table was filled from it)."""

    def close(
        self, at: datetime, candidates: list[FreePlaceCandidate], paid_in_panel: int
    ) -> list[Allocation]:
        """Close registration and give the free places: never-participated structures first,
        then by registration time. Returns every free candidate's outcome, in rank order."""
        if self.closed_at is not None:
            raise RegistrationConflict(f"edition {self.year} is already closed")
        ordered = sorted(
            candidates, key=lambda c: (not c.never_participated, c.registered_at, str(c.id))
        )
        allocations = [
            Allocation(
                registration_id=c.id,
                rank=rank,
                never_participated=c.never_participated,
                outcome=FreePlaceOutcome.GRANTED
                if rank <= self.free_places
                else FreePlaceOutcome.DECLINED,
            )
            for rank, c in enumerate(ordered, start=1)
        ]
        granted = sum(1 for a in allocations if a.granted)
        self._closed(
            closed_at=at,
            granted_count=granted,
            declined_count=len(allocations) - granted,
            panel_size=paid_in_panel + granted,
        )
        return allocations

    @event(Closed)
    def _closed(
        self, closed_at: datetime, granted_count: int, declined_count: int, panel_size: int
    ) -> None:
        self.closed_at = closed_at
        self.granted_count = granted_count
        self.declined_count = declined_count
        self.panel_size = panel_size


@dataclass(frozen=True)
class FreePlaceCandidate:
    id: UUID
    registered_at: datetime
    never_participated: bool


@dataclass(frozen=True)
class Allocation:
    registration_id: UUID
    rank: int
    never_participated: bool
    outcome: FreePlaceOutcome

    @property
    def granted(self) -> bool:
        return self.outcome is FreePlaceOutcome.GRANTED


def _check_options(participation: Participation, options: dict[str, bool]) -> None:
    if participation is Participation.FREE:
        if options.get("physical_visit"):
            raise InvalidRegistration(
                "a physical visit is only for paid participation: choose 'paid' or drop the visit",
                "options.physical_visit",
            )
        if options.get("oral_restitution"):
            raise InvalidRegistration(
                "an oral restitution is only for paid participation: choose 'paid' or drop it",
                "options.oral_restitution",
            )


def check_contacts(contacts: dict[str, Any]) -> None:
    if not (contacts.get("referrer") or contacts.get("decision_maker")):
        raise InvalidRegistration(
            "give a referrer or a decision-maker (name, email, phone)", "contacts"
        )


def _without_site_id(site: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in site.items() if k != "site_id"}


def _check_site(site: dict[str, Any], field: str) -> None:
    if not str(site.get("name", "")).strip():
        raise InvalidRegistration("a site needs a name", f"{field}.name")
    if not str(site.get("address", "")).strip():
        raise InvalidRegistration("a site needs a postal address", f"{field}.address")


class Registration(Aggregate):
    """One structure's registration for one edition."""

    @classmethod
    def register(
        cls,
        *,
        registration_id: UUID,
        seal: Seal,
        year: int,
        siret: str,
        name: str,
        kind: StructureKind,
        population: int | None,
        department: str,
        contacts: dict[str, Any],
        sites: list[dict[str, Any]],
        participation: Participation,
        options: dict[str, bool],
        certifications: list[str],
        registered_at: datetime,
    ) -> Registration:
        problem = siret_problem(siret)
        if problem:
            raise InvalidRegistration(problem, "siret")
        if not name.strip():
            raise InvalidRegistration("the structure's legal name is required", "name")
        if kind in LOCAL_AUTHORITY_KINDS and population is None:
            raise InvalidRegistration(
                f"a local authority ({kind.value}) must give its population", "population"
            )
        if population is not None and population < 0:
            raise InvalidRegistration("the population cannot be negative", "population")
        check_contacts(contacts)
        if not sites:
            raise InvalidRegistration("list at least one site to audit", "sites")
        for index, site in enumerate(sites):
            _check_site(site, f"sites.{index}")
        _check_options(participation, options)
        return cls._create(
            cls.Registered,  # type: ignore[attr-defined]
            id=registration_id,
            year=year,
            siret=siret,
            name=name.strip(),
            kind=kind.value,
            category=category_of(kind, population).value,
            population=population,
            department=department,
            contacts=seal(contacts),
            sites=[{**site, "site_id": str(uuid4())} for site in sites],
            participation=participation.value,
            options=options,
            certifications=sorted(set(certifications)),
            registered_at=registered_at,
        )

    @event("Registered")
    def __init__(
        self,
        *,
        year: int,
        siret: str,
        name: str,
        kind: str,
        category: str,
        population: int | None,
        department: str,
        contacts: dict[str, Any],
        sites: list[dict[str, Any]],
        participation: str,
        options: dict[str, bool],
        certifications: list[str],
        registered_at: datetime,
    ) -> None:
        self.year = year
        self.siret = siret
        self.name = name
        self.kind = kind
        self.category = category
        self.population = population
        self.department = department
        # Sealed (see contact_sealing); plain text in registrations recorded before that,
        # which erasing the key cannot shred.
        self.contacts = contacts
        self.contacts_recorded_in_plain_text = not is_sealed(contacts)
        self.sites = sites
        self.participation = participation
        self.options = options
        self.certifications = certifications
        self.registered_at = registered_at
        self.status = (
            RegistrationStatus.IN_PANEL.value
            if participation == Participation.PAID.value
            else RegistrationStatus.AWAITING_FREE_PLACE.value
        )
        self.free_place: dict[str, Any] | None = None
        self.order_form: dict[str, Any] | None = None

    @property
    def in_panel(self) -> bool:
        return self.status == RegistrationStatus.IN_PANEL.value

    def declaration(self) -> dict[str, Any]:
        """What the structure declared when registering, but its contacts (sealed) and
        what the service gave it (ids, time): two requests that declare the same are one."""
        return {
            "year": self.year,
            "siret": self.siret,
            "name": self.name,
            "kind": self.kind,
            "population": self.population,
            "department": self.department,
            "sites": [_without_site_id(site) for site in self.sites],
            "participation": self.participation,
            "options": self.options,
            "certifications": self.certifications,
        }

    def correct_contacts(self, contacts: dict[str, Any], seal: Seal) -> None:
        check_contacts(contacts)
        self._contacts_corrected(contacts=seal(contacts))

    @event("ContactsCorrected")
    def _contacts_corrected(self, contacts: dict[str, Any]) -> None:
        self.contacts = contacts

    def site_like(self, site: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded site with exactly this content, if any (a retried addition)."""
        return next((s for s in self.sites if _without_site_id(s) == site), None)

    def add_site(self, site: dict[str, Any]) -> dict[str, Any]:
        _check_site(site, "site")
        recorded = {**site, "site_id": str(uuid4())}
        self._site_added(site=recorded)
        return recorded

    @event("SiteAdded")
    def _site_added(self, site: dict[str, Any]) -> None:
        self.sites = [*self.sites, site]

    def decide_free_place(self, allocation: Allocation) -> None:
        if self.status != RegistrationStatus.AWAITING_FREE_PLACE.value:
            raise RegistrationConflict("only a free registration awaiting a place is allocated")
        self._free_place_decided(
            outcome=allocation.outcome.value,
            rank=allocation.rank,
            never_participated=allocation.never_participated,
        )

    @event("FreePlaceDecided")
    def _free_place_decided(self, outcome: str, rank: int, never_participated: bool) -> None:
        self.free_place = {
            "outcome": outcome,
            "rank": rank,
            "never_participated": never_participated,
        }
        self.status = (
            RegistrationStatus.IN_PANEL.value
            if outcome == FreePlaceOutcome.GRANTED.value
            else RegistrationStatus.DECLINED.value
        )

    def switched_to_paid_with(self, options: dict[str, bool] | None) -> bool:
        """Whether this declined registration already switched to paid with these options."""
        switched = (
            self.free_place is not None
            and self.free_place["outcome"] == FreePlaceOutcome.DECLINED.value
            and self.participation == Participation.PAID.value
        )
        return switched and all(self.options.get(k) == v for k, v in (options or {}).items())

    def switch_to_paid(self, options: dict[str, bool] | None) -> None:
        if self.status != RegistrationStatus.DECLINED.value:
            raise RegistrationConflict(
                "only a free registration declined at the close can switch to paid; "
                f"this one is {self.status}"
            )
        self._switched_to_paid(options={**self.options, **(options or {})})

    @event("SwitchedToPaid")
    def _switched_to_paid(self, options: dict[str, bool]) -> None:
        self.participation = Participation.PAID.value
        self.options = options
        self.status = RegistrationStatus.IN_PANEL.value

    def signed_by(self, signed_by: str) -> bool:
        """Whether the order form is already signed by this same person (a retry)."""
        return self.order_form is not None and self.order_form["signed_by"] == signed_by.strip()

    def sign_order_form(self, signed_by: str, signed_at: datetime) -> None:
        if not signed_by.strip():
            raise InvalidRegistration("say who signed the order form", "signed_by")
        if self.status == RegistrationStatus.DECLINED.value:
            raise RegistrationConflict(
                "this free registration was declined: switch to paid before signing an order form"
            )
        if self.order_form is not None:
            raise RegistrationConflict(
                f"the order form was already signed by {self.order_form['signed_by']} "
                f"on {self.order_form['signed_at'].isoformat()}"
            )
        self._order_form_signed(signed_by=signed_by.strip(), signed_at=signed_at)

    @event("OrderFormSigned")
    def _order_form_signed(self, signed_by: str, signed_at: datetime) -> None:
        self.order_form = {"signed_by": signed_by, "signed_at": signed_at}


class Structure(Aggregate):
    """A structure across editions, keyed by SIRET: one registration per edition."""

    @staticmethod
    def create_id(siret: str) -> UUID:
        return uuid5(NAMESPACE, f"structure/{siret}")

    @event("Identified")
    def __init__(self, *, siret: str) -> None:
        self.siret = siret
        self.registrations: list[list[Any]] = []  # [year, registration id] pairs

    def registration_in(self, year: int) -> UUID | None:
        return next((UUID(str(rid)) for y, rid in self.registrations if y == year), None)

    def earlier_registrations(self, year: int) -> list[UUID]:
        return [UUID(str(rid)) for y, rid in self.registrations if y < year]

    def enrol(self, year: int, registration_id: UUID) -> None:
        if self.registration_in(year) is not None:
            raise RegistrationConflict(
                f"SIRET {self.siret} is already registered for edition {year}", "siret"
            )
        self._enrolled(year=year, registration_id=registration_id)

    @event("Enrolled")
    def _enrolled(self, year: int, registration_id: UUID) -> None:
        self.registrations = [*self.registrations, [year, str(registration_id)]]
