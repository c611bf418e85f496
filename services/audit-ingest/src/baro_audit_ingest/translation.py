"""Domain events → audit.v1 contract events. Internal events translate to None."""

from __future__ import annotations

from typing import Any

from baro_chassis.translation import Translator
from baro_contracts import audit_v1 as v1
from baro_contracts.base import ContractEvent


class AuditTranslator(Translator):
    public = frozenset(
        {
            "AuditEdition.ReferentialPublished",
            "AuditEdition.ReferentialFrozen",
            "PanelStructure.PlanIssued",
            "Probe.Recorded",
            "Probe.Corrected",
        }
    )

    def translate(
        self, event_type: str, event: Any, common: dict[str, Any]
    ) -> ContractEvent | None:
        match event_type:
            case "AuditEdition.ReferentialPublished":
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
            case "AuditEdition.ReferentialFrozen":
                edition = self.state_at(event)
                return v1.ReferentialFrozen(
                    **common,
                    edition=edition.year,
                    referential_version=edition.referential_version,
                    frozen_at=event.frozen_at,
                )
            case "PanelStructure.PlanIssued":
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
            case "Probe.Recorded":
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
            case "Probe.Corrected":
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
        return None
