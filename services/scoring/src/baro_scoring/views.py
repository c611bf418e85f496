"""What the API shows of the stored results: scores rounded to one decimal for display,
with their exact value beside them; and what a free participant may see."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from baro_scoring.document import exact, kpi_documents
from baro_scoring.figures import EditionFigures, Mean, Ranked
from baro_scoring.schemas import (
    ChannelMeanOut,
    ChannelScoreOut,
    FullScoresOut,
    GroupScoreOut,
    KpiOut,
    KpisOut,
    KpiTallyOut,
    LabelledGroupScoreOut,
    MeanOut,
    PeersOut,
    ProbesOut,
    RankedOut,
    RankedPeersOut,
    ShownScore,
    StructureScoresOut,
    SyntheticScoresOut,
)

TENTH = Decimal("0.1")


def one_decimal(text: str) -> float:
    return float(Decimal(text).quantize(TENTH, rounding=ROUND_HALF_UP))


def shown(text: str | None) -> ShownScore | None:
    """A score for display (one decimal) and its full-precision text."""
    if text is None:
        return None
    return ShownScore(score=one_decimal(text), exact=text)


def mean_view(mean: Mean | None) -> MeanOut:
    if mean is None or mean.score is None:
        return MeanOut(score=None, exact=None, structures=0)
    text = exact(mean.score)
    return MeanOut(score=one_decimal(text), exact=text, structures=mean.structures)


def groups_view(groups: dict[str, Any]) -> dict[str, GroupScoreOut]:
    """Each group's displayed score."""
    return {
        key: GroupScoreOut(
            score=one_decimal(group["score"]), exact=group["score"], answers=group["answers"]
        )
        for key, group in groups.items()
    }


def labelled_groups_view(
    groups: dict[str, Any], labels: dict[str, str]
) -> dict[str, LabelledGroupScoreOut]:
    """Each group's displayed score, with its label (null if the referential has none)."""
    return {
        key: LabelledGroupScoreOut(
            label=labels.get(key),
            score=one_decimal(group["score"]),
            exact=group["score"],
            answers=group["answers"],
        )
        for key, group in groups.items()
    }


def ranked_view(entry: Ranked) -> RankedOut:
    return RankedOut(**ranked_fields(entry))


def ranked_fields(entry: Ranked) -> dict[str, Any]:
    """A `RankedOut`'s fields, for the models that extend it."""
    line = entry.line
    return {
        "rank": entry.rank,
        "registration_id": line.registration_id,
        "name": line.name,
        "category": entry.category,
        "global_": shown(exact(line.global_score)) if line.global_score is not None else None,
        "processing": (
            shown(exact(line.processing_score)) if line.processing_score is not None else None
        ),
        "complete": line.complete,
        "probes": line.probes,
        "planned": line.planned,
    }


def peers_view(document: dict[str, Any], summary: EditionFigures) -> PeersOut:
    category = document["category"]
    return PeersOut(
        category=category,
        category_mean=mean_view(summary.categories.get(category)),
        national_mean=mean_view(summary.national),
    )


def ranked_peers_view(document: dict[str, Any], summary: EditionFigures) -> RankedPeersOut:
    """The comparison with peers, and the structure's rank among them."""
    entry = summary.rank_of(UUID(document["registration_id"]))
    ranking = summary.rankings.get(document["category"], [])
    return RankedPeersOut(
        **peers_view(document, summary).model_dump(),
        rank=entry.rank if entry else None,
        ranked=sum(1 for e in ranking if e.rank is not None),
    )


def channels_view(document: dict[str, Any], summary: EditionFigures) -> dict[str, ChannelScoreOut]:
    """Each channel's score beside its category's and the nation's means."""
    category_channels = summary.category_channels.get(document["category"], {})
    return {
        channel: ChannelScoreOut(
            score=one_decimal(group["score"]),
            exact=group["score"],
            answers=group["answers"],
            category_mean=mean_view(category_channels.get(channel)),
            national_mean=mean_view(summary.channels.get(channel)),
        )
        for channel, group in document["channels"].items()
    }


SYNTHETIC_NOTE = (
    "free participation gives channel averages and a first comparison with peers; "
    "paid participation gives the detailed report"
)


def scores_view(
    edition: int,
    document: dict[str, Any],
    summary: EditionFigures,
    *,
    full: bool,
    published: bool,
    labels: dict[str, str],
) -> StructureScoresOut:
    """A structure's scores: everything (`full`), or a free participant's synthetic results:
    its channel averages and the comparison with its peers."""
    common: dict[str, Any] = {
        "edition": edition,
        "registration_id": document["registration_id"],
        "name": document["name"],
        "category": document["category"],
        "participation": document["participation"],
        "published": published,
        "global_": shown(document["global"]),
        "channels": channels_view(document, summary),
    }
    if not full:
        return StructureScoresOut(
            SyntheticScoresOut(
                **common,
                detail="synthetic",
                peers=peers_view(document, summary),
                note=SYNTHETIC_NOTE,
            )
        )
    return StructureScoresOut(
        FullScoresOut(
            **common,
            detail="full",
            peers=ranked_peers_view(document, summary),
            certified=document["certified"],
            probes=ProbesOut(
                received=document["probes"],
                planned=document["planned"],
                complete=document["complete"],
                by_channel=document["channel_probes"],
            ),
            steps=groups_view(document["steps"]),
            determinants=labelled_groups_view(document["determinants"], labels),
            items=labelled_groups_view(document["items"], labels),
            kpis={
                code: KpiTallyOut(numerator=n, denominator=d)
                for code, (n, d) in document["kpis"].items()
            },
        )
    )


def kpis_view(summary: EditionFigures, *, published: bool) -> KpisOut:
    kpis = kpi_documents(summary)
    return KpisOut(
        edition=summary.edition,
        published=published,
        structures=summary.structures,
        national=mean_view(summary.national),
        certified=mean_view(summary.certified),
        not_certified=mean_view(summary.not_certified),
        categories={c: mean_view(m) for c, m in sorted(summary.categories.items())},
        channels={
            c: ChannelMeanOut(**mean_view(m).model_dump(), probes=summary.channel_probes.get(c, 0))
            for c, m in sorted(summary.channels.items())
        },
        kpis={code: _kpi_view(kpi) for code, kpi in kpis.items()},
    )


def _kpi_view(kpi: dict[str, Any]) -> KpiOut:
    text = kpi["value"]
    return KpiOut(
        label=kpi["label"],
        channel=kpi["channel"],
        kind=kpi["kind"],
        numerator=kpi["numerator"],
        denominator=kpi["denominator"],
        value=one_decimal(text) if text is not None else None,
        exact=text,
    )
