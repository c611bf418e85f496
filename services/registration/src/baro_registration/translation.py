"""Domain events → registration.v1 contract events. Internal events translate to None."""

from __future__ import annotations

from typing import Any

from baro_chassis.translation import Translator
from baro_contracts import registration_v1 as v1
from baro_contracts.base import ContractEvent


class RegistrationTranslator(Translator):
    def edition_opened(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        return v1.EditionOpened(
            **common,
            edition=event.year,
            registration_deadline=event.registration_deadline,
            audit_window_start=event.audit_window_start,
            audit_window_end=event.audit_window_end,
            free_places=event.free_places,
        )

    def edition_closed(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        edition = self.state_at(event)
        return v1.RegistrationClosed(
            **common,
            edition=edition.year,
            closed_at=event.closed_at,
            free_places=edition.free_places,
            granted_count=event.granted_count,
            declined_count=event.declined_count,
            panel_size=event.panel_size,
        )

    def registration_registered(self, event: Any, common: dict[str, Any]) -> ContractEvent:
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
            sites=[v1.Site.model_validate(site) for site in event.sites],
            participation=v1.Participation(event.participation),
            options=v1.Options(**event.options),
            certifications=[v1.Certification(c) for c in event.certifications],
            status=v1.RegistrationStatus.IN_PANEL
            if event.participation == v1.Participation.PAID.value
            else v1.RegistrationStatus.AWAITING_FREE_PLACE,
            registered_at=event.registered_at,
        )

    def registration_site_added(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        registration = self.state_at(event)
        return v1.SiteAdded(
            **common,
            edition=registration.year,
            registration_id=registration.id,
            site=v1.Site.model_validate(event.site),
        )

    def registration_free_place_decided(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        registration = self.state_at(event)
        return v1.FreePlaceDecided(
            **common,
            edition=registration.year,
            registration_id=registration.id,
            outcome=v1.FreePlaceOutcome(event.outcome),
            rank=event.rank,
            never_participated=event.never_participated,
            status=v1.RegistrationStatus(registration.status),
        )

    def registration_switched_to_paid(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        registration = self.state_at(event)
        return v1.SwitchedToPaid(
            **common,
            edition=registration.year,
            registration_id=registration.id,
            participation=v1.Participation.PAID,
            options=v1.Options(**event.options),
            status=v1.RegistrationStatus(registration.status),
        )

    def registration_order_form_signed(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        registration = self.state_at(event)
        return v1.OrderFormSigned(
            **common,
            edition=registration.year,
            registration_id=registration.id,
            signed_by=event.signed_by,
            signed_at=event.signed_at,
        )

    handlers = {
        "Edition.Opened": edition_opened,
        "Edition.Closed": edition_closed,
        "Registration.Registered": registration_registered,
        "Registration.SiteAdded": registration_site_added,
        "Registration.FreePlaceDecided": registration_free_place_decided,
        "Registration.SwitchedToPaid": registration_switched_to_paid,
        "Registration.OrderFormSigned": registration_order_form_signed,
    }
