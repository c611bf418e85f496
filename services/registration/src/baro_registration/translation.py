"""Domain events → registration.v1 contract events. Internal events translate to None."""

from __future__ import annotations

from typing import Any

from baro_contracts import registration_v1 as v1
from baro_contracts.base import ContractEvent
from baro_registration.application import RegistrationApplication
from baro_registration.domain import Edition, Registration


def public_sites(sites: list[dict[str, Any]]) -> list[v1.Site]:
    return [v1.Site.model_validate(site) for site in sites]


class Translator:
    """Needs the application to read a registration as it stood at the event's version."""

    def __init__(self, application: RegistrationApplication) -> None:
        self.application = application

    def _registration_at(self, event: Any) -> Registration:
        registration = self.application.repository.get(
            event.originator_id, version=event.originator_version
        )
        assert isinstance(registration, Registration)
        return registration

    def __call__(self, event: Any, event_id: str) -> ContractEvent | None:
        common = {"event_id": event_id, "occurred_at": event.timestamp}
        if isinstance(event, Edition.Opened):
            return v1.EditionOpened(
                **common,
                edition=event.year,
                registration_deadline=event.registration_deadline,
                audit_window_start=event.audit_window_start,
                audit_window_end=event.audit_window_end,
                free_places=event.free_places,
            )
        if isinstance(event, Edition.Closed):
            edition = self.application.repository.get(
                event.originator_id, version=event.originator_version
            )
            return v1.RegistrationClosed(
                **common,
                edition=edition.year,
                closed_at=event.closed_at,
                free_places=edition.free_places,
                granted=event.granted,
                declined=event.declined,
                panel_size=event.panel_size,
            )
        if isinstance(event, Registration.Registered):
            return v1.StructureRegistered(
                **common,
                edition=event.year,
                registration_id=event.originator_id,
                siret=event.siret,
                structure_name=event.name,
                kind=v1.StructureKind(event.kind),
                category=v1.Category(event.category),
                population=event.population,
                department=event.department,
                sites=public_sites(event.sites),
                participation=v1.Participation(event.participation),
                options=v1.Options(**event.options),
                certifications=[v1.Certification(c) for c in event.certifications],
                status=_initial_status(event.participation),
                registered_at=event.registered_at,
            )
        if isinstance(event, Registration.SiteAdded):
            registration = self._registration_at(event)
            return v1.SiteAdded(
                **common,
                edition=registration.year,
                registration_id=registration.id,
                site=v1.Site.model_validate(event.site),
            )
        if isinstance(event, Registration.FreePlaceDecided):
            registration = self._registration_at(event)
            return v1.FreePlaceDecided(
                **common,
                edition=registration.year,
                registration_id=registration.id,
                outcome=v1.FreePlaceOutcome(event.outcome),
                rank=event.rank,
                never_participated=event.never_participated,
                status=v1.RegistrationStatus(registration.status),
            )
        if isinstance(event, Registration.SwitchedToPaid):
            registration = self._registration_at(event)
            return v1.SwitchedToPaid(
                **common,
                edition=registration.year,
                registration_id=registration.id,
                participation=v1.Participation.PAID,
                options=v1.Options(**event.options),
                status=v1.RegistrationStatus(registration.status),
            )
        if isinstance(event, Registration.OrderFormSigned):
            registration = self._registration_at(event)
            return v1.OrderFormSigned(
                **common,
                edition=registration.year,
                registration_id=registration.id,
                signed_by=event.signed_by,
                signed_at=event.signed_at,
            )
        return None


def _initial_status(participation: str) -> v1.RegistrationStatus:
    if participation == v1.Participation.PAID.value:
        return v1.RegistrationStatus.IN_PANEL
    return v1.RegistrationStatus.AWAITING_FREE_PLACE
