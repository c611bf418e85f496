"""Domain events → scoring.v1 contract events."""

from __future__ import annotations

from typing import Any

from baro_chassis.translation import Translator
from baro_contracts import scoring_v1 as v1
from baro_contracts.base import ContractEvent


class ScoringTranslator(Translator):
    def results_published(self, event: Any, common: dict[str, Any]) -> ContractEvent:
        return v1.ResultsPublished(
            **common,
            edition=event.edition,
            fingerprint=event.fingerprint,
            method=event.method,
            included_through=event.included_through,
            structures=event.structures,
            national_score=event.national_score,
            laureates=event.laureates,
            published_at=event.published_at,
            published_by=event.published_by,
        )

    # Publications saved before the aggregate's rename have the old name in their topic.
    handlers = {
        "Publication.Published": results_published,
        "EditionResults.Published": results_published,
    }
