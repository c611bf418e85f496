"""Domain events → reporting.v1 contract events."""

from __future__ import annotations

from typing import Any

from baro_chassis.translation import Translator
from baro_contracts import reporting_v1 as v1
from baro_contracts.base import ContractEvent
from baro_reporting.domain import Editorial


class ReportingTranslator(Translator):
    def editorial_revised(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        editorial: Editorial = self.state_at(event)
        return v1.EditorialRevised(
            **common,
            edition=editorial.edition,
            editorial_version=editorial.editorial_version,
            content=v1.EditorialContent.model_validate(editorial.content),
            revised_by=event.by,
            revised_at=event.at,
        )

    def report_rendered(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        return v1.ReportRendered(
            **common,
            edition=event.edition,
            report_id=event.originator_id,
            kind=v1.ReportKind(event.kind),
            registration_id=event.registration_id,
            fingerprint=event.fingerprint,
            template_version=event.template_version,
            editorial_version=event.editorial_version,
            sha256=event.sha256,
            input_sha256=event.input_sha256,
            pages=event.pages,
            size_bytes=event.size_bytes,
        )

    handlers = {
        "Editorial.Revised": editorial_revised,
        "RenderedReport.Rendered": report_rendered,
    }
