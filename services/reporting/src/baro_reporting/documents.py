"""The input documents of the reports: one canonical JSON object per report, built from
`EditionFacts` by the rules below and nothing else. The live service and the replay both
call these, so a replay rebuilds the same input, and the renderer the same bytes.

Every figure is given exactly (decimal text, as published) and as displayed (French, one
decimal); the templates only lay them out. Each figure of another edition says whether it is
*computed* (from results this system holds) or *cited* (from `history.json`, with its source).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from baro_reporting import history
from baro_reporting.facts import EditionFacts, Editorial, Publication, Registration
from baro_reporting.figures import (
    group_means,
    kpi_value,
    strengths_and_improvements,
    weakest_items,
)
from baro_reporting.formatting import french_date, one_decimal, signed, whole

CHANNELS = ("phone", "email", "mail", "website", "social", "visit")
STEPS = ("access", "information", "processing")
AUDITS_PER_STRUCTURE = 13
CAMPAIGN_MONTHS = 2


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """The input as it is embedded and hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _score(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True)
class Point:
    edition: int
    value: Decimal
    kind: str  # "computed" or "cited"
    source: str | None

    def document(self) -> dict[str, Any]:
        return {
            "edition": self.edition,
            "value": str(self.value),
            "display": one_decimal(self.value),
            "kind": self.kind,
            "source": self.source,
        }


@dataclass
class EditionContext:
    """An edition's facts, with what every one of its documents shares computed once."""

    facts: EditionFacts
    template_version: str

    @property
    def publication(self) -> Publication:
        return self.facts.publication

    @property
    def edition(self) -> int:
        return self.publication.edition

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.publication.document["summary"]
        return summary

    @cached_property
    def structures(self) -> dict[str, dict[str, Any]]:
        return {s["registration_id"]: s for s in self.publication.document["structures"]}

    @cached_property
    def step_means(self) -> tuple[dict[str, dict[str, Decimal]], dict[str, Decimal]]:
        return group_means(self.structures.values(), "steps")

    @cached_property
    def determinant_means(self) -> tuple[dict[str, dict[str, Decimal]], dict[str, Decimal]]:
        return group_means(self.structures.values(), "determinants")

    @cached_property
    def earlier_structures(self) -> dict[int, dict[str, dict[str, Any]]]:
        return {
            p.edition: {s["registration_id"]: s for s in p.document["structures"]}
            for p in self.facts.earlier
        }

    @cached_property
    def by_siret(self) -> dict[tuple[int, str], str]:
        return {(r.edition, r.siret): r.registration_id for r in self.facts.registrations.values()}

    @cached_property
    def referential_name(self) -> str:
        referential = self.facts.referential
        return referential.name if referential is not None else "baro-default"

    def determinant_label(self, code: str) -> str:
        referential = self.facts.referential
        fallback = (
            referential.determinants.get(code, {}).get("label", code) if referential else code
        )
        return history.labels().determinant(self.referential_name, code, fallback)

    def item_label(self, code: str) -> str:
        referential = self.facts.referential
        fallback = referential.items.get(code, {}).get("label", code) if referential else code
        return history.labels().item(self.referential_name, code, fallback)

    def common(self, kind: str) -> dict[str, Any]:
        published = self.publication.published_at
        return {
            "kind": kind,
            "language": "fr",
            "template_version": self.template_version,
            "edition": self.edition,
            "fingerprint": self.publication.fingerprint,
            "method": self.publication.method,
            "included_through": dict(sorted(self.publication.included_through.items())),
            "published_at": published.isoformat(),
            "published_on": french_date(published.year, published.month, published.day),
        }

    # --- series over the editions: computed where held, else cited -----------------------

    def series(
        self, code: str, current: Decimal | None, earlier: dict[int, Decimal]
    ) -> list[Point]:
        points: dict[int, Point] = {}
        for edition, figure in history.cited_series(code).items():
            if edition < self.edition:
                points[edition] = Point(edition, figure.value, "cited", figure.source.id)
        for edition, value in earlier.items():
            points[edition] = Point(edition, value, "computed", None)
        if current is not None:
            points[self.edition] = Point(self.edition, current, "computed", None)
        return [points[e] for e in sorted(points)]

    def earlier_summary_values(self, path: tuple[str, ...]) -> dict[int, Decimal]:
        values: dict[int, Decimal] = {}
        for publication in self.facts.earlier:
            node: Any = publication.document["summary"]
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None and (value := _score(node)) is not None:
                values[publication.edition] = value
        return values


def _sources(document: dict[str, Any], editorial: Editorial) -> list[dict[str, Any]]:
    """Every source the document cites, in id order: the history file's, and the free-text
    sources of figures an admin entered (`editorial:<code>`)."""
    cited: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("source"), str):
                cited.add(node["source"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    by_id = {s.id: s for s in history.cited_sources()}
    entered = {f"editorial:{r['code']}": r for r in editorial.content.get("references", [])}
    sources = []
    for source_id in sorted(cited):
        if (known := by_id.get(source_id)) is not None:
            date = _iso_french_date(known.published_on)
            sources.append(
                {
                    "id": known.id,
                    "title": known.title,
                    "publisher": known.publisher,
                    "published_on": known.published_on,
                    "document": known.document,
                    "citation": f"{known.publisher}, {date}" if date else known.publisher,
                }
            )
        elif (reference := entered.get(source_id)) is not None:
            sources.append(
                {
                    "id": source_id,
                    "title": reference["source"],
                    "publisher": None,
                    "published_on": None,
                    "document": None,
                    "citation": reference["source"],
                }
            )
    return sources


def _iso_french_date(value: str | None) -> str | None:
    if not value:
        return None
    year, month, day = (int(part) for part in value.split("-"))
    return french_date(year, month, day)


def _change(points: list[Point], edition: int) -> dict[str, Any] | None:
    """The change since the previous point of the series, if there is one."""
    earlier = [p for p in points if p.edition < edition]
    current = next((p for p in points if p.edition == edition), None)
    if not earlier or current is None:
        return None
    previous = earlier[-1]
    return {
        "since": previous.edition,
        "previous": previous.document(),
        "value": str(current.value - previous.value),
        "display": signed(current.value - previous.value),
    }


def _registration(context: EditionContext, registration_id: str) -> Registration | None:
    return context.facts.registrations.get(registration_id)


# --- the national synthesis ----------------------------------------------------------------


def synthesis_input(context: EditionContext) -> dict[str, Any]:
    labels = history.labels()
    summary = context.summary
    editorial = context.facts.editorial
    national_score = _score(summary["national"]["score"])
    national_series = context.series(
        "national", national_score, context.earlier_summary_values(("national", "score"))
    )
    mentions = {m["registration_id"]: m for m in editorial.content.get("laureates", [])}
    laureates_by_category: dict[str, list[dict[str, Any]]] = {}
    for entry in summary["laureates"]:
        registration = _registration(context, entry["registration_id"])
        mention = mentions.get(entry["registration_id"], {})
        laureates_by_category.setdefault(entry["category"], []).append(
            {
                "registration_id": entry["registration_id"],
                "name": entry["name"],
                "department": registration.department if registration else None,
                "global": entry["global"],
                "display": one_decimal(entry["global"]),
                "mention": mention.get("mention"),
                "remarkable_point": mention.get("remarkable_point"),
            }
        )
    categories = []
    for code, figure in sorted(
        summary["categories"].items(),
        key=lambda kv: (-(_score(kv[1]["score"]) or Decimal(-1)), kv[0]),
    ):
        score = _score(figure["score"])
        points = context.series(
            f"category.{code}", score, context.earlier_summary_values(("categories", code, "score"))
        )
        winners = laureates_by_category.get(code, [])
        categories.append(
            {
                "code": code,
                "label": labels.category(code),
                "score": _text(score),
                "display": one_decimal(score),
                "structures": figure["structures"],
                "change": _change(points, context.edition),
                "laureates": winners,
                "joint": len(winners) > 1,
            }
        )
    kpis = summary.get("kpis", {})
    channels = []
    for code in CHANNELS:
        figure = summary["channels"].get(code)
        if figure is None:
            continue
        score = _score(figure["score"])
        points = context.series(
            f"channel.{code}", score, context.earlier_summary_values(("channels", code, "score"))
        )
        channel_kpis = []
        for kpi_code, kpi in sorted(kpis.items()):
            if kpi["channel"] != code:
                continue
            value = _score(kpi["value"])
            kpi_points = context.series(
                kpi_code, value, context.earlier_summary_values(("kpis", kpi_code, "value"))
            )
            channel_kpis.append(
                {
                    "code": kpi_code,
                    "label": labels.kpi(kpi_code),
                    "kind": kpi["kind"],
                    "value": kpi["value"],
                    "display": one_decimal(value),
                    "numerator": kpi["numerator"],
                    "denominator": kpi["denominator"],
                    "trend": [p.document() for p in kpi_points],
                    "change": _change(kpi_points, context.edition),
                }
            )
        channels.append(
            {
                "code": code,
                "label": labels.channel(code),
                "score": _text(score),
                "display": one_decimal(score),
                "structures": figure["structures"],
                "probes": summary["channel_probes"].get(code, 0),
                "trend": [p.document() for p in points],
                "change": _change(points, context.edition),
                "kpis": channel_kpis,
            }
        )
    certified = _score(summary["certified"]["score"])
    not_certified = _score(summary["not_certified"]["score"])
    referential = context.facts.referential
    document = {
        **context.common("synthesis"),
        "editorial_version": editorial.version,
        "panel": {
            "structures": summary["national"]["structures"],
            "structures_display": whole(summary["national"]["structures"]),
            "probes": sum(summary["channel_probes"].values()),
            "probes_display": whole(sum(summary["channel_probes"].values())),
            "audits_per_structure": AUDITS_PER_STRUCTURE,
            "months": CAMPAIGN_MONTHS,
            "steps": len(STEPS),
            "channels": len(CHANNELS),
            "determinants": len(referential.determinants) if referential else None,
            "items": len(referential.items) if referential else None,
            "referential": (
                {"name": referential.name, "version": referential.version} if referential else None
            ),
        },
        "national": {
            "score": _text(national_score),
            "display": one_decimal(national_score),
            "change": _change(national_series, context.edition),
            "trend": [p.document() for p in national_series],
        },
        "certified": {
            "score": _text(certified),
            "display": one_decimal(certified),
            "structures": summary["certified"]["structures"],
        },
        "not_certified": {
            "score": _text(not_certified),
            "display": one_decimal(not_certified),
            "structures": summary["not_certified"]["structures"],
        },
        "certified_gap": (
            signed(certified - not_certified)
            if certified is not None and not_certified is not None
            else None
        ),
        "certified_gap_value": (
            str(certified - not_certified)
            if certified is not None and not_certified is not None
            else None
        ),
        "best_category": categories[0]["code"] if categories else None,
        "categories": categories,
        "channels": channels,
        "public_private": _public_private(context),
        "initiatives": list(editorial.content.get("initiatives", [])),
    }
    document["sources"] = _sources(document, editorial)
    return document


def _public_private(context: EditionContext) -> list[dict[str, Any]]:
    """Reference figures comparing public and private sectors: the shipped cited ones, and
    the edition's admin-entered ones (which replace a cited one of the same code); beside
    each, this edition's computed public figure when the system measures it."""
    kpis = context.summary.get("kpis", {})
    rows: dict[str, dict[str, Any]] = {}
    for figure in history.reference_figures():
        rows[figure.code] = {
            "code": figure.code,
            "label": figure.label_fr,
            "edition": figure.edition,
            "public": str(figure.public),
            "public_display": one_decimal(figure.public),
            "private": str(figure.private),
            "private_display": one_decimal(figure.private),
            "unit": figure.unit,
            "kind": "cited",
            "source": figure.source.id,
        }
    for entered in context.facts.editorial.content.get("references", []):
        rows[entered["code"]] = {
            "code": entered["code"],
            "label": entered["label"],
            "edition": context.edition,
            "public": entered["public"],
            "public_display": one_decimal(entered["public"]),
            "private": entered["private"],
            "private_display": one_decimal(entered["private"]),
            "unit": entered.get("unit", "percent"),
            "kind": "entered",
            "source": f"editorial:{entered['code']}",
        }
    for row in rows.values():
        computed = kpis.get(row["code"], {}).get("value")
        row["computed_public"] = computed
        row["computed_public_display"] = one_decimal(computed) if computed is not None else None
    return [rows[code] for code in sorted(rows)]


# --- structure reports -----------------------------------------------------------------------


def _structure_header(context: EditionContext, structure: dict[str, Any]) -> dict[str, Any]:
    labels = history.labels()
    registration = _registration(context, structure["registration_id"])
    return {
        "registration_id": structure["registration_id"],
        "name": structure["name"],
        "siret": registration.siret if registration else None,
        "kind": registration.kind if registration else None,
        "kind_label": labels.kind(registration.kind) if registration else None,
        "category": structure["category"],
        "category_label": labels.category(structure["category"]),
        "department": registration.department if registration else None,
        "population": registration.population if registration else None,
        "participation": structure["participation"],
        "certified": structure["certified"],
        "certifications": list(registration.certifications) if registration else [],
    }


def _rank(context: EditionContext, structure: dict[str, Any]) -> tuple[int | None, int]:
    ranking = context.summary["rankings"].get(structure["category"], [])
    rank = next(
        (e["rank"] for e in ranking if e["registration_id"] == structure["registration_id"]), None
    )
    return rank, len(ranking)


def _laureate(context: EditionContext, structure: dict[str, Any]) -> bool:
    return any(
        e["registration_id"] == structure["registration_id"] for e in context.summary["laureates"]
    )


def _channel_rows(context: EditionContext, structure: dict[str, Any]) -> list[dict[str, Any]]:
    labels = history.labels()
    category = context.summary["category_channels"].get(structure["category"], {})
    national = context.summary["channels"]
    rows = []
    for code in CHANNELS:
        own = structure["channels"].get(code)
        if own is None:
            continue
        score = _score(own["score"])
        category_mean = _score(category.get(code, {}).get("score"))
        national_mean = _score(national.get(code, {}).get("score"))
        rows.append(
            {
                "code": code,
                "label": labels.channel(code),
                "score": _text(score),
                "display": one_decimal(score),
                "category": _text(category_mean),
                "category_display": one_decimal(category_mean),
                "national": _text(national_mean),
                "national_display": one_decimal(national_mean),
                "probes": structure["channel_probes"].get(code, 0),
            }
        )
    return rows


def _summary(context: EditionContext, structure: dict[str, Any]) -> dict[str, Any]:
    score = _score(structure["global"])
    category_mean = _score(
        context.summary["categories"].get(structure["category"], {}).get("score")
    )
    national_mean = _score(context.summary["national"]["score"])
    rank, ranked = _rank(context, structure)
    return {
        "global": _text(score),
        "display": one_decimal(score),
        "category": _text(category_mean),
        "category_display": one_decimal(category_mean),
        "national": _text(national_mean),
        "national_display": one_decimal(national_mean),
        "rank": rank,
        "ranked": ranked,
        "laureate": _laureate(context, structure),
        "complete": structure["complete"],
        "probes": structure["probes"],
        "planned": structure["planned"],
    }


def free_input(context: EditionContext, registration_id: str) -> dict[str, Any]:
    structure = context.structures[registration_id]
    return {
        **context.common("free"),
        "structure": _structure_header(context, structure),
        "summary": _summary(context, structure),
        "channels": _channel_rows(context, structure),
    }


def _group_rows(
    context: EditionContext,
    structure: dict[str, Any],
    group: str,
    means: tuple[dict[str, dict[str, Decimal]], dict[str, Decimal]],
    label: Any,
) -> list[dict[str, Any]]:
    category_means, national_means = means
    own_category = category_means.get(structure["category"], {})
    rows = []
    for code, own in sorted(structure.get(group, {}).items()):
        score = _score(own["score"])
        category_mean = own_category.get(code)
        national_mean = national_means.get(code)
        rows.append(
            {
                "code": code,
                "label": label(code),
                "score": _text(score),
                "display": one_decimal(score),
                "category": _text(category_mean),
                "category_display": one_decimal(category_mean),
                "national": _text(national_mean),
                "national_display": one_decimal(national_mean),
                "gap_display": (
                    signed(score - category_mean)
                    if score is not None and category_mean is not None
                    else ""
                ),
            }
        )
    return rows


def _history_row(
    edition: int, structure: dict[str, Any], summary: dict[str, Any], fingerprint: str
) -> dict[str, Any]:
    channels = sorted(structure["channels"].items())
    return {
        "edition": edition,
        "global": structure["global"],
        "display": one_decimal(structure["global"]),
        "national": summary["national"]["score"],
        "national_display": one_decimal(summary["national"]["score"]),
        "fingerprint": fingerprint,
        "channels": {code: one_decimal(c["score"]) for code, c in channels},
        "channel_scores": {code: c["score"] for code, c in channels},
    }


def _history(context: EditionContext, structure: dict[str, Any]) -> list[dict[str, Any]]:
    """The structure's scores in each earlier edition the system holds, joined by SIRET
    (registration ids change every edition), then this edition's."""
    registration = _registration(context, structure["registration_id"])
    rows = []
    for publication in context.facts.earlier if registration is not None else ():
        assert registration is not None
        earlier_id = context.by_siret.get((publication.edition, registration.siret))
        earlier = context.earlier_structures[publication.edition].get(earlier_id or "")
        if earlier is not None:
            rows.append(
                _history_row(
                    publication.edition,
                    earlier,
                    publication.document["summary"],
                    publication.fingerprint,
                )
            )
    rows.append(
        _history_row(context.edition, structure, context.summary, context.publication.fingerprint)
    )
    return rows


def paid_input(context: EditionContext, registration_id: str) -> dict[str, Any]:
    labels = history.labels()
    structure = context.structures[registration_id]
    registration = _registration(context, registration_id)
    determinants = _group_rows(
        context, structure, "determinants", context.determinant_means, context.determinant_label
    )
    steps = _group_rows(context, structure, "steps", context.step_means, labels.step)
    own_scores = {
        row["code"]: Decimal(row["score"]) for row in determinants if row["score"] is not None
    }
    category_means = context.determinant_means[0].get(structure["category"], {})
    strengths, improvements = strengths_and_improvements(own_scores, category_means)
    national_kpis = context.summary.get("kpis", {})
    kpis = []
    for code, (numerator, denominator) in sorted(structure.get("kpis", {}).items()):
        national = national_kpis.get(code, {})
        value = kpi_value(national.get("kind", "percent"), numerator, denominator)
        kpis.append(
            {
                "code": code,
                "label": labels.kpi(code),
                "channel": national.get("channel"),
                "kind": national.get("kind"),
                "unit": labels.kpi_unit(code),
                "value": _text(value),
                "display": one_decimal(value),
                "numerator": numerator,
                "denominator": denominator,
                "national": national.get("value"),
                "national_display": one_decimal(national.get("value")),
            }
        )
    items = []
    referential = context.facts.referential
    for code, item in sorted(structure.get("items", {}).items()):
        known = referential.items.get(code, {}) if referential else {}
        items.append(
            {
                "code": code,
                "label": context.item_label(code),
                "determinant": known.get("determinant"),
                "channel": known.get("channel"),
                "score": item["score"],
                "display": one_decimal(item["score"]),
                "answers": item["answers"],
            }
        )
    sites = [
        {
            "name": s.name,
            "kind": s.kind,
            "kind_label": "accueil principal" if s.kind == "main" else "site annexe",
            "address": s.address,
        }
        for s in (registration.sites if registration else ())
    ]

    def gap_row(gap: Any) -> dict[str, Any]:
        return {
            "code": gap.code,
            "label": context.determinant_label(gap.code),
            "display": one_decimal(gap.score),
            "category_display": one_decimal(gap.reference),
            "gap_display": signed(gap.gap),
        }

    return {
        **context.common("paid"),
        "structure": _structure_header(context, structure),
        "summary": _summary(context, structure),
        "channels": _channel_rows(context, structure),
        "steps": steps,
        "determinants": determinants,
        "history": _history(context, structure),
        "strengths": [gap_row(g) for g in strengths],
        "improvements": [gap_row(g) for g in improvements],
        "weakest_items": [
            {
                "code": code,
                "label": context.item_label(code),
                "display": one_decimal(score),
                "answers": answers,
            }
            for code, score, answers in weakest_items(structure.get("items", {}))
        ],
        "kpis": kpis,
        "sites": sites,
        "per_site_scores": False,
        "items": items,
        "referential": (
            {"name": referential.name, "version": referential.version} if referential else None
        ),
    }
