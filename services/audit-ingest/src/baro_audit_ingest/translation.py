"""Domain events → audit.v1 contract events. Internal events translate to None."""

from __future__ import annotations

from typing import Any

from baro_chassis.translation import Translator
from baro_contracts import audit_v1 as v1
from baro_contracts.base import ContractEvent


class AuditTranslator(Translator):
    def audit_edition_referential_published(
        self, event: Any, common: dict[str, Any]
    ) -> ContractEvent:
        edition = self.state_at(event)
        document = event.document
        return v1.ReferentialPublished(
            **common,
            edition=edition.year,
            referential_version=edition.referential_version,
            referential_name=document["name"],
            description=document["description"],
            determinants=document["determinants"],
            items=document["items"],
            published_at=event.published_at,
        )

    def audit_edition_referential_frozen(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        edition = self.state_at(event)
        return v1.ReferentialFrozen(
            **common,
            edition=edition.year,
            referential_version=edition.referential_version,
            frozen_at=event.frozen_at,
        )

    def panel_structure_plan_issued(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        structure = self.state_at(event)
        return v1.PlanIssued(
            **common,
            edition=structure.year,
            registration_id=structure.registration_id,
            seed=event.seed,
            channel_mix=event.channel_mix,
            probes=event.probes,
            issued_at=event.issued_at,
        )

    def probe_recorded(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        return v1.ProbeRecorded(
            **common,
            edition=event.year,
            probe_id=event.probe_id,
            registration_id=event.registration_id,
            site_id=event.site_id,
            channel=event.channel,
            slot=event.slot,
            auditor_id=event.auditor_id,
            performed_at=event.performed_at,
            referential_version=event.referential_version,
            answers=event.answers,
            measures=event.measures,
            recorded_at=event.recorded_at,
            recorded_by=event.recorded_by,
        )

    def probe_corrected(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        probe = self.state_at(event)
        return v1.ProbeCorrected(
            **common,
            edition=probe.year,
            probe_id=probe.probe_id,
            registration_id=probe.registration_id,
            revision=probe.revision,
            answers=event.answers,
            measures=event.measures,
            reason=event.reason,
            corrected_by=event.corrected_by,
            corrected_at=event.corrected_at,
        )

    handlers = {
        "AuditEdition.ReferentialPublished": audit_edition_referential_published,
        "AuditEdition.ReferentialFrozen": audit_edition_referential_frozen,
        "PanelStructure.PlanIssued": panel_structure_plan_issued,
        "Probe.Recorded": probe_recorded,
        "Probe.Corrected": probe_corrected,
    }
