"""The HTTP API's response bodies.

Every score is out of 100. It is shown twice: `score`, rounded to one decimal (half up) for
display, and `exact`, the full-precision decimal as text (no exponent, no trailing zeros),
which is what rankings and the publication's fingerprint are computed from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel

if TYPE_CHECKING:
    from baro_scoring.domain import Publication

Score = Annotated[
    float, Field(description="Out of 100, rounded to one decimal for display.", examples=[87.5])
]
Exact = Annotated[
    str,
    Field(
        description="The same score at full precision, as decimal text (compare these, not "
        "`score`).",
        examples=["87.5"],
    ),
]
Answers = Annotated[int, Field(description="How many scored answers the score is made of.")]
Edition = Annotated[int, Field(description="The edition's year.", examples=[2027])]
IsPublished = Annotated[
    bool, Field(description="Whether the edition's results are published (then frozen).")
]
CategoryName = Annotated[
    str, Field(description="The structure's registration category.", examples=["city_over_50k"])
]


class Out(BaseModel):
    # `global` is a Python keyword: such fields are named `xxx_` with the JSON key as alias.
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)


class ShownScore(Out):
    """A score for display and its exact value."""

    score: Score
    exact: Exact


class MeanOut(Out):
    """The mean of some structures' scores; both null when none is scored."""

    score: Score | None
    exact: Exact | None
    structures: int = Field(description="How many structures the mean is taken over.")


class ChannelMeanOut(MeanOut):
    probes: int = Field(description="Probes recorded on the channel, all structures together.")


class GroupScoreOut(ShownScore):
    """The score of a step (or a channel) of the audit."""

    answers: Answers


class LabelledGroupScoreOut(Out):
    """The score of a determinant or an item, with its label."""

    label: str | None = Field(description="Its label in the edition's referential, if any.")
    score: Score
    exact: Exact
    answers: Answers


class ChannelScoreOut(GroupScoreOut):
    """A structure's score on a channel, beside its category's and the nation's means."""

    category_mean: MeanOut
    national_mean: MeanOut


class PeersOut(Out):
    """How the structure compares with its peers."""

    category: CategoryName
    category_mean: MeanOut = Field(description="The mean global score of its category.")
    national_mean: MeanOut = Field(description="The mean global score of every structure.")


class RankedPeersOut(PeersOut):
    rank: int | None = Field(
        description="Its rank in its category; null until it is complete (all probes in)."
    )
    ranked: int = Field(description="How many structures of its category are ranked.")


class ProbesOut(Out):
    received: int = Field(description="Probes recorded for the structure.")
    planned: int | None = Field(description="Probes planned for it; null if not yet planned.")
    complete: bool = Field(description="Whether every planned probe is in.")
    by_channel: dict[str, int] = Field(description="Probes recorded, by channel.")


class KpiTallyOut(Out):
    numerator: int
    denominator: int


class _StructureScores(Out):
    edition: Edition
    registration_id: UUID
    name: str
    category: CategoryName
    participation: str = Field(description="free or paid: what the structure is shown.")
    published: IsPublished
    detail: str
    global_: ShownScore | None = Field(
        alias="global", description="The structure's global score; null until it has one."
    )
    channels: dict[str, ChannelScoreOut] = Field(description="By channel (phone, email...).")
    peers: PeersOut


class SyntheticScoresOut(_StructureScores):
    """A free participant's synthetic results: channel averages and a first comparison
    with its peers."""

    detail: Literal["synthetic"]
    note: str = Field(description="What the synthetic view leaves out, for display.")


class FullScoresOut(_StructureScores):
    """Everything about a structure's scores: a paid participant's, or any for AFNOR staff."""

    detail: Literal["full"]
    peers: RankedPeersOut
    certified: bool
    probes: ProbesOut
    steps: dict[str, GroupScoreOut] = Field(description="By step of the audit.")
    determinants: dict[str, LabelledGroupScoreOut] = Field(description="By determinant code.")
    items: dict[str, LabelledGroupScoreOut] = Field(description="By item code.")
    kpis: dict[str, KpiTallyOut] = Field(description="The structure's KPI counts, by code.")


class StructureScoresOut(
    RootModel[Annotated[FullScoresOut | SyntheticScoresOut, Field(discriminator="detail")]]
):
    """A structure's scores: `detail` says which of the two views it is."""


class RankedOut(Out):
    """A structure's place in its category."""

    rank: int | None = Field(
        description="Its rank in its category (shared when tied); null while incomplete."
    )
    registration_id: UUID
    name: str | None
    category: str = Field(description="Its category; empty if registration has not said.")
    global_: ShownScore | None = Field(alias="global", description="Its global score.")
    processing: ShownScore | None = Field(
        description="Its score on the processing step: what breaks a tie on the global score."
    )
    complete: bool = Field(description="Whether every planned probe is in (to be ranked).")
    probes: int = Field(description="Probes recorded.")
    planned: int | None = Field(description="Probes planned; null if not yet planned.")


class ScoredStructureOut(RankedOut):
    participation: str | None = Field(description="free or paid.")


class ScoresOut(Out):
    edition: Edition
    published: IsPublished
    structures: list[ScoredStructureOut] = Field(description="By category, then id.")


class CategoryRankingOut(Out):
    mean: MeanOut = Field(description="The category's mean global score.")
    structures: list[RankedOut] = Field(
        description="Complete structures by rank, then incomplete ones (unranked)."
    )


class RankingsOut(Out):
    edition: Edition
    published: IsPublished
    rankings: dict[str, CategoryRankingOut] = Field(description="By category.")


class LaureateOut(RankedOut):
    joint: bool = Field(description="Whether it shares the first place of its category.")


class LaureatesOut(Out):
    edition: Edition
    published: IsPublished
    laureates: list[LaureateOut]
    categories_without_laureate: list[str] = Field(
        description="Categories no complete structure has scored in."
    )


class KpiOut(Out):
    label: str
    channel: str = Field(description="The channel it is measured on, or `any`.")
    kind: Literal["percent", "mean"] = Field(
        description="percent: 100 * numerator / denominator; mean: numerator / denominator."
    )
    numerator: int
    denominator: int
    value: float | None = Field(description="Rounded to one decimal; null when no denominator.")
    exact: str | None = Field(description="The value at full precision, as decimal text.")


class KpisOut(Out):
    """The national synthesis."""

    edition: Edition
    published: IsPublished
    structures: int = Field(description="How many structures have a score.")
    national: MeanOut
    certified: MeanOut = Field(description="The mean of certified structures.")
    not_certified: MeanOut
    categories: dict[str, MeanOut] = Field(description="By category.")
    channels: dict[str, ChannelMeanOut] = Field(description="By channel.")
    kpis: dict[str, KpiOut] = Field(description="The channel KPIs, by code.")


DateTimeText = Annotated[
    str,
    Field(description="ISO 8601, with its offset.", json_schema_extra={"format": "date-time"}),
]
IncludedThrough = Annotated[
    dict[str, int],
    Field(description="The last event of each source stream the results include."),
]


class PublishedLaureateOut(Out):
    category: str
    registration_id: UUID
    structure_name: str
    global_score: Exact
    joint: bool = Field(description="Whether it shares the first place of its category.")


class PublishedOut(Out):
    """The publication as it was made (a retry gets the same)."""

    edition: Edition
    fingerprint: str = Field(description="The fingerprint of the frozen results.")
    method: str = Field(description="The scoring method the results were computed by.")
    included_through: IncludedThrough
    structures: int = Field(description="How many structures have a score.")
    national_score: Exact | None
    laureates: list[PublishedLaureateOut]
    published_at: DateTimeText
    published_by: str

    @classmethod
    def of(cls, publication: Publication) -> PublishedOut:
        return cls(
            edition=publication.edition,
            fingerprint=publication.fingerprint,
            method=publication.method,
            included_through=publication.included_through,
            structures=publication.structures,
            national_score=publication.national_score,
            laureates=[PublishedLaureateOut(**laureate) for laureate in publication.laureates],
            published_at=publication.published_at.isoformat(),
            published_by=publication.published_by,
        )


class PublicationOut(Out):
    """The edition's publication record."""

    edition: Edition
    fingerprint: str = Field(description="The fingerprint of the frozen results.")
    method: str = Field(description="The scoring method the results were computed by.")
    included_through: IncludedThrough
    published_at: DateTimeText
    published_by: str
    events_after_publication: int = Field(
        description="Events received after publication: held, not in the published results."
    )
