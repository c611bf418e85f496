"""What the API shows of the stored results: scores rounded to one decimal for display,
with their exact value beside them; and what a free participant may see."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from baro_scoring.results import EditionSummary, Mean, Ranked, exact

TENTH = Decimal("0.1")


def one_decimal(text: str) -> float:
    return float(Decimal(text).quantize(TENTH, rounding=ROUND_HALF_UP))


def shown(text: str | None) -> dict[str, Any] | None:
    """A score for display (one decimal) and its full-precision text."""
    if text is None:
        return None
    return {"score": one_decimal(text), "exact": text}


def mean_view(mean: Mean | None) -> dict[str, Any]:
    if mean is None or mean.score is None:
        return {"score": None, "exact": None, "structures": 0}
    return {**(shown(exact(mean.score)) or {}), "structures": mean.structures}


def groups_view(groups: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Each group's displayed score, with its label when labels are given."""
    view = {}
    for key, group in groups.items():
        label = {"label": labels.get(key)} if labels is not None else {}
        view[key] = {**label, **(shown(group["score"]) or {}), "answers": group["answers"]}
    return view


def ranked_view(entry: Ranked) -> dict[str, Any]:
    line = entry.line
    return {
        "rank": entry.rank,
        "registration_id": str(line.registration_id),
        "name": line.name,
        "category": entry.category,
        "global": shown(exact(line.global_score)) if line.global_score is not None else None,
        "processing": (
            shown(exact(line.processing_score)) if line.processing_score is not None else None
        ),
        "complete": line.complete,
        "probes": line.probes,
        "planned": line.planned,
    }


def peers_view(document: dict[str, Any], summary: EditionSummary, *, with_rank: bool) -> Any:
    category = document["category"]
    peers: dict[str, Any] = {
        "category": category,
        "category_mean": mean_view(summary.categories.get(category)),
        "national_mean": mean_view(summary.national),
    }
    if with_rank:
        entry = summary.rank_of(UUID(document["registration_id"]))
        ranking = summary.rankings.get(category, [])
        peers["rank"] = entry.rank if entry else None
        peers["ranked"] = sum(1 for e in ranking if e.rank is not None)
    return peers


def channels_view(document: dict[str, Any], summary: EditionSummary) -> dict[str, Any]:
    """Each channel's score beside its category's and the nation's means."""
    category_channels = summary.category_channels.get(document["category"], {})
    return {
        channel: {
            **(shown(group["score"]) or {}),
            "answers": group["answers"],
            "category_mean": mean_view(category_channels.get(channel)),
            "national_mean": mean_view(summary.channels.get(channel)),
        }
        for channel, group in document["channels"].items()
    }


def scores_view(
    edition: int,
    document: dict[str, Any],
    summary: EditionSummary,
    *,
    full: bool,
    published: bool,
    labels: dict[str, str],
) -> dict[str, Any]:
    """A structure's scores: everything (`full`), or a free participant's synthetic results:
    its channel averages and the comparison with its peers."""
    view: dict[str, Any] = {
        "edition": edition,
        "registration_id": document["registration_id"],
        "name": document["name"],
        "category": document["category"],
        "participation": document["participation"],
        "published": published,
        "detail": "full" if full else "synthetic",
        "global": shown(document["global"]),
        "channels": channels_view(document, summary),
        "peers": peers_view(document, summary, with_rank=full),
    }
    if not full:
        view["note"] = (
            "free participation gives channel averages and a first comparison with peers; "
            "paid participation gives the detailed report"
        )
        return view
    view.update(
        {
            "certified": document["certified"],
            "probes": {
                "received": document["probes"],
                "planned": document["planned"],
                "complete": document["complete"],
                "by_channel": document["channel_probes"],
            },
            "steps": groups_view(document["steps"]),
            "determinants": groups_view(document["determinants"], labels),
            "items": groups_view(document["items"], labels),
            "kpis": {
                code: {"numerator": n, "denominator": d}
                for code, (n, d) in document["kpis"].items()
            },
        }
    )
    return view


def kpis_view(summary: EditionSummary, *, published: bool) -> dict[str, Any]:
    kpis = summary.kpi_documents()
    return {
        "edition": summary.edition,
        "published": published,
        "structures": summary.structures,
        "national": mean_view(summary.national),
        "certified": mean_view(summary.certified),
        "not_certified": mean_view(summary.not_certified),
        "categories": {c: mean_view(m) for c, m in sorted(summary.categories.items())},
        "channels": {
            c: {**mean_view(m), "probes": summary.channel_probes.get(c, 0)}
            for c, m in sorted(summary.channels.items())
        },
        "kpis": {
            code: {**{k: v for k, v in kpi.items() if k != "value"}, **_kpi_value(kpi["value"])}
            for code, kpi in kpis.items()
        },
    }


def _kpi_value(text: str | None) -> dict[str, Any]:
    if text is None:
        return {"value": None, "exact": None}
    return {"value": one_decimal(text), "exact": text}
