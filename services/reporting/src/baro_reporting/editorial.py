"""Checks of editorial content beyond its shape (which the contract's model checks)."""

from __future__ import annotations

from typing import Any

from baro_contracts.reporting_v1 import EditorialContent
from baro_reporting.domain import InvalidInput
from baro_reporting.facts import Publication


def checked_content(content: EditorialContent, publication: Publication | None) -> dict[str, Any]:
    """The content as stored (JSON values), or InvalidInput saying what is wrong: a
    laureate named twice, a mention of a structure that is not a laureate of the edition
    (once published), two reference figures with the same code."""
    ids = [str(m.registration_id) for m in content.laureates]
    if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
        raise InvalidInput(f"laureates named more than once: {', '.join(duplicates)}", "laureates")
    codes = [r.code for r in content.references]
    if duplicates := sorted({c for c in codes if codes.count(c) > 1}):
        raise InvalidInput(
            f"reference figures with the same code: {', '.join(duplicates)}", "references"
        )
    if publication is not None:
        laureates = {
            e["registration_id"]: e["name"] for e in publication.document["summary"]["laureates"]
        }
        if strangers := [i for i in ids if i not in laureates]:
            known = "; ".join(f"{rid} ({name})" for rid, name in sorted(laureates.items()))
            raise InvalidInput(
                f"not laureates of edition {publication.edition}: {', '.join(strangers)}. "
                f"Its laureates are: {known}",
                "laureates",
            )
    return content.model_dump(mode="json")
