"""What reporting knows, as plain values: the same for the live service (read from its
database) and for the replay (read from the streams). Documents are built from these only."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Site:
    site_id: str
    name: str
    kind: str
    address: str


@dataclass(frozen=True)
class Registration:
    """A structure's registration for one edition, as registration published it (never its
    contacts)."""

    registration_id: str
    edition: int
    siret: str
    name: str
    kind: str
    category: str
    department: str
    population: int | None
    participation: str
    certifications: tuple[str, ...]
    sites: tuple[Site, ...]


@dataclass(frozen=True)
class Referential:
    edition: int
    version: int
    name: str
    determinants: dict[str, dict[str, str]]
    """code → {"label", "family"}"""
    items: dict[str, dict[str, str]]
    """code → {"label", "channel", "step", "determinant"}"""


@dataclass(frozen=True)
class Publication:
    """An edition's published results: the event's fields and the checked document."""

    edition: int
    fingerprint: str
    method: str
    position: int
    """The event's position in scoring's log: a later publication supersedes."""
    published_at: datetime
    published_by: str
    included_through: dict[str, int]
    document: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Editorial:
    """An edition's editorial content at one version (0: none entered)."""

    edition: int
    version: int
    content: dict[str, Any]


NO_EDITORIAL_CONTENT: dict[str, Any] = {"laureates": [], "initiatives": [], "references": []}


def no_editorial(edition: int) -> Editorial:
    return Editorial(edition, 0, NO_EDITORIAL_CONTENT)


@dataclass(frozen=True)
class EditionFacts:
    """Everything a document of `publication`'s edition is made from."""

    publication: Publication
    registrations: dict[str, Registration]
    """registration id → registration, for the edition and every earlier one"""
    referential: Referential | None
    earlier: tuple[Publication, ...]
    """The latest publication of each earlier edition, among those received before
    `publication` (by scoring position), oldest first."""
    editorial: Editorial


def producer_position(event_id: str) -> tuple[str, int]:
    """`registration:42` → ("registration", 42): the event's place in its producer's log."""
    producer, _, position = event_id.rpartition(":")
    return producer, int(position)


def _site(site: dict[str, Any]) -> Site:
    return Site(str(site["site_id"]), site["name"], site["kind"], site["address"])


def fold_registrations(bodies: Iterable[tuple[int, str]]) -> dict[str, Registration]:
    """Registrations as registration's events (in log order) leave them."""
    registrations: dict[str, Registration] = {}
    for _, body in bodies:
        event = json.loads(body)
        kind = event["event_type"]
        rid = str(event.get("registration_id"))
        if kind == "registration.v1.structure_registered":
            registrations[rid] = Registration(
                registration_id=rid,
                edition=event["edition"],
                siret=event["siret"],
                name=event["structure_name"],
                kind=event["kind"],
                category=event["category"],
                department=event["department"],
                population=event["population"],
                participation=event["participation"],
                certifications=tuple(event["certifications"]),
                sites=tuple(_site(s) for s in event["sites"]),
            )
        elif rid in registrations and kind == "registration.v1.site_added":
            known = registrations[rid]
            if all(s.site_id != str(event["site"]["site_id"]) for s in known.sites):
                registrations[rid] = replace(known, sites=(*known.sites, _site(event["site"])))
        elif rid in registrations and kind == "registration.v1.switched_to_paid":
            registrations[rid] = replace(registrations[rid], participation=event["participation"])
    return registrations


KEPT_REGISTRATION_EVENTS = frozenset(
    {
        "registration.v1.structure_registered",
        "registration.v1.site_added",
        "registration.v1.switched_to_paid",
    }
)
"""The registration events reporting keeps: the ones that change what a report shows."""


def referential_of(bodies: Iterable[tuple[int, str]], through: int) -> Referential | None:
    """The edition's referential as of position `through` of audit-ingest's log: its latest
    version published by then (a referential is frozen at the edition's first probe)."""
    latest: dict[str, Any] | None = None
    for position, body in bodies:
        if position <= through:
            event = json.loads(body)
            if latest is None or event["referential_version"] > latest["referential_version"]:
                latest = event
    if latest is None:
        return None
    return Referential(
        edition=latest["edition"],
        version=latest["referential_version"],
        name=latest["referential_name"],
        determinants={
            d["code"]: {"label": d["label"], "family": d["family"]} for d in latest["determinants"]
        },
        items={
            i["code"]: {
                "label": i["label"],
                "channel": i["channel"],
                "step": i["step"],
                "determinant": i["determinant"],
            }
            for i in latest["items"]
        },
    )


def through_of(publication: Publication, producer: str) -> int:
    return int(publication.included_through.get(producer, 0))


def earlier_of(publications: Iterable[Publication], publication: Publication) -> list[Publication]:
    """The latest publication of each edition before `publication`'s, among those received
    before it (by scoring position), oldest edition first."""
    latest: dict[int, Publication] = {}
    for candidate in publications:
        if candidate.edition < publication.edition and candidate.position < publication.position:
            known = latest.get(candidate.edition)
            if known is None or candidate.position > known.position:
                latest[candidate.edition] = candidate
    return [latest[edition] for edition in sorted(latest)]


def current_of(publications: Iterable[Publication], edition: int) -> Publication | None:
    """The edition's latest publication: a later one supersedes."""
    found = [p for p in publications if p.edition == edition]
    return max(found, key=lambda p: p.position) if found else None


def edition_facts(
    publication: Publication,
    registration_bodies: Iterable[tuple[int, str]],
    referential_bodies: Iterable[tuple[int, str]],
    earlier: Iterable[Publication],
    editorial: Editorial,
) -> EditionFacts:
    """`earlier`: `earlier_of(...)`, with their documents."""
    """The facts of `publication`'s documents: registrations and referential as of the
    positions it includes, and the earlier editions' latest publications received before it."""
    registration_through = through_of(publication, "registration")
    return EditionFacts(
        publication=publication,
        registrations=fold_registrations(
            (p, b) for p, b in registration_bodies if p <= registration_through
        ),
        referential=referential_of(referential_bodies, through_of(publication, "audit-ingest")),
        earlier=tuple(earlier),
        editorial=editorial,
    )
