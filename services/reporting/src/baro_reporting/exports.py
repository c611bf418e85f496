"""Exports of an edition's published results.

- For AFNOR analysts: one row per structure, as CSV that French Excel opens as it is (UTF-8
  with a BOM, `;` between fields, decimal comma) and as XLSX (numbers as numbers).
- Open data: the national figures, as plain CSV (UTF-8, `,`, decimal point, exact values).
Each names the fingerprint of the results it was made from; the same results give the same
bytes (the XLSX's creation date is the publication's).
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import xlsxwriter

from baro_reporting import history
from baro_reporting.documents import CHANNELS, STEPS, EditionContext

DETERMINANTS = tuple(f"D{n:02d}" for n in range(1, 21))


def _columns() -> list[tuple[str, str]]:
    labels = history.labels()
    return [
        ("edition", "Édition"),
        ("fingerprint", "Empreinte des résultats"),
        ("registration_id", "Identifiant d'inscription"),
        ("siret", "SIRET"),
        ("name", "Structure"),
        ("kind", "Type"),
        ("category", "Catégorie"),
        ("department", "Département"),
        ("population", "Population"),
        ("participation", "Participation"),
        ("certified", "Certifiée"),
        ("probes", "Audits réalisés"),
        ("planned", "Audits prévus"),
        ("complete", "Audits complets"),
        ("global", "Score global"),
        ("rank", "Rang dans la catégorie"),
        ("ranked", "Structures classées"),
        ("laureate", "Lauréate"),
        *((f"channel.{c}", f"Score {labels.channel(c)}") for c in CHANNELS),
        *((f"step.{s}", f"Score {labels.step(s)}") for s in STEPS),
        *(
            (f"determinant.{d}", f"{d} {labels.determinant('baro-default', d, d)}")
            for d in DETERMINANTS
        ),
    ]


def result_rows(context: EditionContext) -> list[dict[str, Any]]:
    """One row per structure (registration id order): values as published, None if none."""
    summary = context.summary
    laureates = {e["registration_id"] for e in summary["laureates"]}
    ranks = {
        e["registration_id"]: (e["rank"], len(entries))
        for entries in summary["rankings"].values()
        for e in entries
    }
    labels = history.labels()
    rows = []
    for rid, s in context.structures.items():
        registration = context.facts.registrations.get(rid)
        rank, ranked = ranks.get(rid, (None, None))
        row: dict[str, Any] = {
            "edition": context.edition,
            "fingerprint": context.publication.fingerprint,
            "registration_id": rid,
            "siret": registration.siret if registration else None,
            "name": s["name"],
            "kind": labels.kind(registration.kind) if registration else None,
            "category": labels.category(s["category"]),
            "department": registration.department if registration else None,
            "population": registration.population if registration else None,
            "participation": "payante" if s["participation"] == "paid" else "gratuite",
            "certified": "oui" if s["certified"] else "non",
            "probes": s["probes"],
            "planned": s["planned"],
            "complete": "oui" if s["complete"] else "non",
            "global": _decimal(s["global"]),
            "rank": rank,
            "ranked": ranked,
            "laureate": "oui" if rid in laureates else "non",
        }
        for group, codes, prefix in (
            ("channels", CHANNELS, "channel"),
            ("steps", STEPS, "step"),
            ("determinants", DETERMINANTS, "determinant"),
        ):
            for code in codes:
                row[f"{prefix}.{code}"] = _decimal((s[group].get(code) or {}).get("score"))
        rows.append(row)
    return rows


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _french(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", ",")
    return str(value)


def results_csv(context: EditionContext) -> bytes:
    columns = _columns()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([title for _, title in columns])
    for row in result_rows(context):
        writer.writerow([_french(row[key]) for key, _ in columns])
    return ("\ufeff" + out.getvalue()).encode()


def results_xlsx(context: EditionContext) -> bytes:
    columns = _columns()
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    published = context.publication.published_at.replace(tzinfo=None)
    workbook.set_properties(
        {
            "title": f"Baromètre de l'expérience citoyenne {context.edition} : résultats",
            "author": "AFNOR",
            "comments": f"Empreinte des résultats : {context.publication.fingerprint}",
            "created": published,
        }
    )
    bold = workbook.add_format({"bold": True, "text_wrap": True})
    number = workbook.add_format({"num_format": "0.0"})
    sheet = workbook.add_worksheet("Résultats")
    for col, (_, title) in enumerate(columns):
        sheet.write_string(0, col, title, bold)
    for r, row in enumerate(result_rows(context), start=1):
        for col, (key, _) in enumerate(columns):
            value = row[key]
            if value is None:
                continue
            if isinstance(value, Decimal):
                sheet.write_number(r, col, float(value), number)
            elif isinstance(value, int):
                sheet.write_number(r, col, value)
            else:
                sheet.write_string(r, col, str(value))
    sheet.freeze_panes(1, 5)
    workbook.close()
    return out.getvalue()


def national_rows(context: EditionContext) -> list[dict[str, Any]]:
    """The edition's national figures, each with its code, value and unit."""
    labels = history.labels()
    summary = context.summary
    rows: list[dict[str, Any]] = [
        {
            "code": "structures",
            "label": "Structures",
            "value": summary["national"]["structures"],
            "unit": "count",
        },
        {
            "code": "national",
            "label": "Score national",
            "value": summary["national"]["score"],
            "unit": "points",
        },
        {
            "code": "certified",
            "label": "Score des structures certifiées",
            "value": summary["certified"]["score"],
            "unit": "points",
        },
        {
            "code": "not_certified",
            "label": "Score des structures non certifiées",
            "value": summary["not_certified"]["score"],
            "unit": "points",
        },
    ]
    for code, figure in sorted(summary["categories"].items()):
        rows.append(
            {
                "code": f"category.{code}",
                "label": labels.category(code),
                "value": figure["score"],
                "unit": "points",
            }
        )
    for code in CHANNELS:
        if (figure := summary["channels"].get(code)) is not None:
            rows.append(
                {
                    "code": f"channel.{code}",
                    "label": labels.channel(code),
                    "value": figure["score"],
                    "unit": "points",
                }
            )
    for code, kpi in sorted(summary.get("kpis", {}).items()):
        rows.append(
            {
                "code": code,
                "label": labels.kpi(code),
                "value": kpi["value"],
                "unit": "percent"
                if kpi["kind"] == "percent"
                else (labels.kpi_unit(code) or "mean"),
            }
        )
    return rows


def open_data_csv(context: EditionContext) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["edition", "code", "indicateur", "valeur", "unite", "empreinte"])
    for row in national_rows(context):
        value = row["value"]
        writer.writerow(
            [
                context.edition,
                row["code"],
                row["label"],
                "" if value is None else value,
                row["unit"],
                context.publication.fingerprint,
            ]
        )
    return out.getvalue().encode()
