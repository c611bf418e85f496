"""Thin HTTP routes over the registration application."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from baro_chassis.auth import Principal, Role, ensure_registration, issue_token, require
from baro_chassis.bounds import Year
from baro_chassis.errors import install_refusals
from baro_chassis.routing import GuardedRoute
from baro_contracts.registration_v1 import Category, RegistrationStatus
from baro_registration.application import RegistrationApplication
from baro_registration.contact_access import Actor, Audience
from baro_registration.contacts import ContactsRecord
from baro_registration.domain import (
    ContactsErased,
    Edition,
    InvalidRegistration,
    NotFound,
    RegistrationConflict,
    RegistrationError,
)
from baro_registration.schemas import (
    ClosedOut,
    EditionIn,
    EditionOut,
    RegisteredOut,
    RegistrationIn,
    RegistrationOut,
    SignatureIn,
    SiteIn,
    SiteOut,
    SwitchToPaidIn,
)

STRUCTURE_TOKEN_TTL = timedelta(days=180)
router = APIRouter(route_class=GuardedRoute)

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AnyRole = Annotated[Principal, Depends(require(*Role, structure=True))]
Registrar = Annotated[Principal, Depends(require(Role.ADMIN, Role.FRONTEND))]
Reader = Annotated[Principal, Depends(require(Role.ADMIN, Role.FINANCE, structure=True))]
Lister = Annotated[Principal, Depends(require(Role.ADMIN, Role.FINANCE))]
StructureActor = Annotated[Principal, Depends(require(Role.ADMIN, Role.FRONTEND, structure=True))]
Signer = Annotated[Principal, Depends(require(Role.ADMIN, structure=True))]


async def application(request: Request) -> RegistrationApplication:
    app: RegistrationApplication = request.app.state.application
    return app


App = Annotated[RegistrationApplication, Depends(application)]


def contact_actor(principal: Principal) -> Actor:
    """Who the caller is for the access log, and what of the contacts they may see."""
    if Role.ADMIN in principal.roles:
        return Actor(Role.ADMIN.value, principal.subject, Audience.EVERYTHING)
    if principal.registration_id is not None:
        return Actor("structure", principal.subject, Audience.EVERYTHING)
    if Role.FINANCE in principal.roles:
        return Actor(Role.FINANCE.value, principal.subject, Audience.INVOICING)
    role = min((r.value for r in principal.roles), default="none")
    return Actor(role, principal.subject, Audience.NOTHING)


def install_domain_errors(app: FastAPI) -> None:
    install_refusals(
        app,
        RegistrationError,
        {
            InvalidRegistration: (422, "invalid_request"),
            RegistrationConflict: (409, "conflict"),
            NotFound: (404, "not_found"),
            ContactsErased: (410, "gone"),
        },
    )


async def edition_out(app: RegistrationApplication, edition: Edition) -> EditionOut:
    return EditionOut.of(edition, await run_in_threadpool(app.registered, edition))


@router.post("/editions", status_code=201, response_model=EditionOut, tags=["editions"])
async def open_edition(body: EditionIn, _: Admin, app: App) -> EditionOut:
    edition = await run_in_threadpool(lambda: app.open_edition(**body.model_dump()))
    return await edition_out(app, edition)


@router.get("/editions/{year}", response_model=EditionOut, tags=["editions"])
async def get_edition(year: Year, _: AnyRole, app: App) -> EditionOut:
    return await edition_out(app, await run_in_threadpool(app.edition, year))


@router.post("/editions/{year}/close", response_model=ClosedOut, tags=["editions"])
async def close_edition(year: Year, _: Admin, app: App) -> ClosedOut:
    edition, decided = await run_in_threadpool(app.close_registration, year)
    allocations = [
        {"registration_id": str(r.id), "name": r.name, "siret": r.siret, **(r.free_place or {})}
        for r in decided
    ]
    return ClosedOut(edition=await edition_out(app, edition), allocations=allocations)


@router.post(
    "/editions/{year}/registrations",
    status_code=201,
    response_model=RegisteredOut,
    tags=["registrations"],
)
async def register(
    year: Year, body: RegistrationIn, _: Registrar, app: App, request: Request, response: Response
) -> RegisteredOut:
    """Register a structure. Sending the same registration again (a retry) answers 201 with
    the registration it made; another one for the same SIRET and edition is 409. The answer
    echoes the contacts sent."""
    fields = body.domain_fields()
    registration = await run_in_threadpool(lambda: app.register(year, **fields))
    response.headers["Location"] = f"/editions/{year}/registrations/{registration.id}"
    token = issue_token(
        request.app.state.settings.jwt_secret,
        registration_id=registration.id,
        ttl=STRUCTURE_TOKEN_TTL,
    )
    sent = ContactsRecord(fields["contacts"])
    return RegisteredOut(
        **RegistrationOut.of(registration, sent).model_dump(), structure_token=token
    )


@router.get(
    "/editions/{year}/registrations", response_model=list[RegistrationOut], tags=["registrations"]
)
async def list_registrations(
    year: Year,
    _: Lister,
    app: App,
    category: Annotated[Category | None, Query()] = None,
    status: Annotated[RegistrationStatus | None, Query()] = None,
) -> list[RegistrationOut]:
    """The edition's registrations, without their contacts (read one registration for them)."""
    registrations = await run_in_threadpool(app.registrations, year)
    return [
        RegistrationOut.of(r)
        for r in sorted(registrations, key=lambda r: r.registered_at)
        if (category is None or r.category == category.value)
        and (status is None or r.status == status.value)
    ]


@router.get(
    "/editions/{year}/registrations/{registration_id}",
    response_model=RegistrationOut,
    tags=["registrations"],
)
async def get_registration(
    year: Year, registration_id: UUID, principal: Reader, app: App
) -> RegistrationOut:
    """One registration, with its contacts as the caller's role may see them (logged)."""
    ensure_registration(principal, registration_id, Role.ADMIN, Role.FINANCE)
    actor = contact_actor(principal)

    def read() -> RegistrationOut:
        registration = app.registration(year, registration_id)
        return RegistrationOut.of(registration, app.contacts.shown_to(registration, actor))

    return await run_in_threadpool(read)


@router.post(
    "/editions/{year}/registrations/{registration_id}/sites",
    status_code=201,
    response_model=SiteOut,
    tags=["registrations"],
)
async def add_site(
    year: Year, registration_id: UUID, body: SiteIn, principal: StructureActor, app: App
) -> SiteOut:
    ensure_registration(principal, registration_id, Role.ADMIN, Role.FRONTEND)
    site = await run_in_threadpool(
        app.add_site, year, registration_id, body.model_dump(mode="json")
    )
    return SiteOut.model_validate(site)


@router.post(
    "/editions/{year}/registrations/{registration_id}/order-form-signature",
    response_model=RegistrationOut,
    tags=["registrations"],
)
async def sign_order_form(
    year: Year, registration_id: UUID, body: SignatureIn, principal: Signer, app: App
) -> RegistrationOut:
    ensure_registration(principal, registration_id, Role.ADMIN)
    registration = await run_in_threadpool(
        app.sign_order_form, year, registration_id, body.signed_by
    )
    return RegistrationOut.of(registration)


@router.post(
    "/editions/{year}/registrations/{registration_id}/switch-to-paid",
    response_model=RegistrationOut,
    tags=["registrations"],
)
async def switch_to_paid(
    year: Year, registration_id: UUID, body: SwitchToPaidIn, principal: Signer, app: App
) -> RegistrationOut:
    ensure_registration(principal, registration_id, Role.ADMIN)
    options = body.options.model_dump(exclude_unset=True) if body.options else None
    registration = await run_in_threadpool(app.switch_to_paid, year, registration_id, options)
    return RegistrationOut.of(registration)
