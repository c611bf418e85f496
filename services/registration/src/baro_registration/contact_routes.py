"""The routes of a registration's contacts: read, correct, erase, and who did so."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from baro_chassis.auth import Principal, Role, ensure_registration, require
from baro_chassis.bounds import Year
from baro_chassis.routing import GuardedRoute
from baro_registration.api import App, contact_actor
from baro_registration.schemas import AccessEntryOut, ContactsIn, ContactsOut

router = APIRouter(route_class=GuardedRoute, tags=["contacts"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AdminOrStructure = Annotated[Principal, Depends(require(Role.ADMIN, structure=True))]
CONTACTS = "/editions/{year}/registrations/{registration_id}/contacts"


@router.get(CONTACTS, response_model=ContactsOut)
async def read_contacts(
    year: Year, registration_id: UUID, principal: AdminOrStructure, app: App
) -> ContactsOut:
    ensure_registration(principal, registration_id, Role.ADMIN)
    actor = contact_actor(principal)
    record = await run_in_threadpool(app.contacts.read, year, registration_id, actor)
    return ContactsOut.of(record)


@router.put(CONTACTS, response_model=ContactsOut)
async def correct_contacts(
    year: Year, registration_id: UUID, body: ContactsIn, principal: AdminOrStructure, app: App
) -> ContactsOut:
    """Replace the contacts (a new event, sealed with the registration's key); sending the
    same contacts again records nothing. Refused (410) once they were erased."""
    ensure_registration(principal, registration_id, Role.ADMIN)
    actor = contact_actor(principal)
    record = await run_in_threadpool(
        app.contacts.correct, year, registration_id, body.domain_fields(), actor
    )
    return ContactsOut.of(record)


@router.delete(CONTACTS, response_model=ContactsOut)
async def erase_contacts(
    year: Year, registration_id: UUID, principal: AdminOrStructure, app: App
) -> ContactsOut:
    """Erase the contacts for good: their key is deleted, so the recorded events keep only
    a ciphertext nothing can open. Erasing again answers the first erasure."""
    ensure_registration(principal, registration_id, Role.ADMIN)
    actor = contact_actor(principal)
    record = await run_in_threadpool(app.contacts.erase, year, registration_id, actor)
    return ContactsOut.of(record)


@router.get(f"{CONTACTS}/access-log", response_model=list[AccessEntryOut])
async def contacts_access_log(
    year: Year, registration_id: UUID, _: Admin, app: App
) -> list[AccessEntryOut]:
    """Every read, correction and erasure of these contacts, oldest first."""
    entries = await run_in_threadpool(app.contacts.access_log, year, registration_id)
    return [AccessEntryOut.of(entry) for entry in entries]
