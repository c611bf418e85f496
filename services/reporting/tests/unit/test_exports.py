"""The exports AFNOR analysts open in Excel, and the open data anyone can reuse."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from baro_reporting.exports import open_data_csv, results_csv, results_xlsx
from reporting_builders import context_of, small_edition

pytestmark = pytest.mark.unit

EDITION = small_edition()


def test_the_results_csv_opens_in_french_excel_as_it_is() -> None:
    data = results_csv(context_of(EDITION))
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header[:5] == [
        "Édition",
        "Empreinte des résultats",
        "Identifiant d'inscription",
        "SIRET",
        "Structure",
    ]
    assert len(body) == 4
    lyon = next(r for r in body if r[4] == "Lyon")
    values = dict(zip(header, lyon, strict=True))
    assert values["Score global"] == "60"
    assert values["Score Téléphone"] == "90"
    assert values["Rang dans la catégorie"] == "2"
    assert values["Lauréate"] == "non"
    assert values["Type"] == "Commune"
    venissieux = dict(zip(header, next(r for r in body if r[4] == "Vénissieux"), strict=True))
    assert venissieux["Rang dans la catégorie"] == ""  # incomplete: not ranked
    email = dict(zip(header, next(r for r in body if r[4] == "Bron"), strict=True))
    assert email["Participation"] == "gratuite"
    # decimals keep every digit, with a comma
    assert all("." not in v for r in body for v in r[14:])


def test_the_xlsx_is_the_same_bytes_for_the_same_results() -> None:
    first = results_xlsx(context_of(EDITION))
    assert first == results_xlsx(context_of(EDITION))
    with zipfile.ZipFile(io.BytesIO(first)) as xlsx:
        sheet = xlsx.read("xl/worksheets/sheet1.xml").decode()
        core = xlsx.read("docProps/core.xml").decode()
    assert "2027-12-04T10:30:00Z" in core
    assert sheet.count("<row ") == 5


def test_open_data_gives_the_national_figures_with_their_fingerprint() -> None:
    context = context_of(EDITION)
    rows = list(csv.DictReader(io.StringIO(open_data_csv(context).decode())))
    figures = {r["code"]: r for r in rows}
    assert figures["national"]["valeur"] == "60"
    assert figures["structures"]["valeur"] == "4"
    assert figures["channel.phone"]["valeur"] == "72.5"
    assert {r["empreinte"] for r in rows} == {context.publication.fingerprint}
