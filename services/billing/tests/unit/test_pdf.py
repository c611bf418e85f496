"""Order form PDF rendering: content recovered by text extraction, determinism, paging."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date

import pypdf
import pytest

from baro_billing.pdf import OrderFormPdf, PdfLine, euros, render_order_form

pytestmark = pytest.mark.unit

NNBSP = "\u202f"
EN_DASH = "\u2013"
APOSTROPHE = "\u2019"

LINES = (
    PdfLine(
        label=f"Participation payante {EN_DASH} Mairie de Dax (site principal)",
        quantity=1,
        unit_cents=99000,
        amount_cents=99000,
        vat_cents=19800,
    ),
    PdfLine(
        label=f"Participation payante {EN_DASH} Mairie de Dax (annexe Saint-Vincent-de-Paul)",
        quantity=2,
        unit_cents=50000,
        amount_cents=100000,
        vat_cents=20000,
    ),
    PdfLine(
        label="Remise fidélité édition précédente",
        quantity=1,
        unit_cents=-8000,
        amount_cents=-8000,
        vat_cents=-1600,
    ),
)

FORM = OrderFormPdf(
    number="BC-2025-000001",
    edition=2025,
    issued_on=date(2025, 1, 15),
    buyer_name="Mairie de Dax",
    buyer_siret="21400019200014",
    buyer_address="Hôtel de ville\nRue Saint-Pierre\n40100 Dax",
    lines=LINES,
    total_ht_cents=191000,
    total_vat_cents=38200,
    total_ttc_cents=229200,
    vat_rate_percent=20,
    status="issued",
)


def _normalise(text: str) -> str:
    """Collapse every run of whitespace (no-break spaces and wrapped lines included)."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace(NNBSP, " ")).strip()


def _pages_text(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [_normalise(page.extract_text()) for page in reader.pages]


@pytest.fixture(scope="module")
def rendered() -> bytes:
    return render_order_form(FORM)


@pytest.fixture(scope="module")
def text(rendered: bytes) -> str:
    return " ".join(_pages_text(rendered))


def test_output_is_a_single_page_pdf(rendered: bytes) -> None:
    assert rendered.startswith(b"%PDF")
    assert len(pypdf.PdfReader(io.BytesIO(rendered)).pages) == 1


def test_header_shows_number_edition_date_and_seller(text: str) -> None:
    assert "Bon de commande BC-2025-000001" in text
    assert "Baromètre de l'expérience citoyenne 2025" in text
    assert "15/01/2025" in text
    assert f"AFNOR {EN_DASH} Baromètre de l'expérience citoyenne" in text
    assert "Statut : émis" in text


def test_buyer_block(text: str) -> None:
    assert "Mairie de Dax" in text
    assert "SIRET : 21400019200014" in text
    assert "Hôtel de ville Rue Saint-Pierre 40100 Dax" in text


def test_each_line_with_its_amounts(text: str) -> None:
    for line in LINES:
        assert _normalise(line.label) in text
    assert f"{LINES[0].label} 1 990,00 € 990,00 €" in text
    assert "2 500,00 € 1 000,00 €" in text
    assert "Remise fidélité édition précédente 1 -80,00 € -80,00 €" in text


def test_totals_as_formatted(text: str) -> None:
    assert f"Total HT {_normalise(euros(191000))}" in text
    assert f"TVA 20 % {_normalise(euros(38200))}" in text
    assert f"Total TTC {_normalise(euros(229200))}" in text
    assert "Total TTC 2 292,00 €" in text


def test_signature_block(text: str) -> None:
    for mention in (
        "Bon pour accord",
        "Nom et qualité du signataire :",
        "Date :",
        "Signature et cachet :",
    ):
        assert mention in text
    assert text.index("Total TTC") < text.index("Bon pour accord")


def test_same_form_renders_to_identical_bytes(rendered: bytes) -> None:
    assert render_order_form(FORM) == rendered


def test_issue_date_drives_the_output(rendered: bytes) -> None:
    assert render_order_form(replace(FORM, issued_on=date(2025, 1, 16))) != rendered


def test_cancelled_status_is_mentioned() -> None:
    text = " ".join(_pages_text(render_order_form(replace(FORM, status="cancelled"))))
    assert "Statut : annulé" in text


def test_characters_outside_cp1252_do_not_break_rendering() -> None:
    form = replace(
        FORM, buyer_name=f"Commune d{APOSTROPHE}Łódź{NNBSP}nord", buyer_address="1 rue\t\u2212 A"
    )
    text = " ".join(_pages_text(render_order_form(form)))
    assert f"Commune d{APOSTROPHE}?ódz nord" in text  # Ł has no cp1252 fallback, ź -> z
    assert "1 rue - A" in text


def test_many_lines_span_several_pages_and_keep_the_totals() -> None:
    lines = tuple(
        PdfLine(
            label=f"Participation payante {EN_DASH} Site n° {i:02d}",
            quantity=1,
            unit_cents=99000,
            amount_cents=99000,
            vat_cents=19800,
        )
        for i in range(40)
    )
    form = replace(
        FORM,
        lines=lines,
        total_ht_cents=3960000,
        total_vat_cents=792000,
        total_ttc_cents=4752000,
    )
    pages = _pages_text(render_order_form(form))
    assert len(pages) > 1
    text = " ".join(pages)
    for line in lines:
        assert line.label in text
    assert "Total HT 39 600,00 €" in pages[-1]
    assert "TVA 20 % 7 920,00 €" in pages[-1]
    assert "Total TTC 47 520,00 €" in pages[-1]
    assert "Signature et cachet :" in pages[-1]
    # Headings are repeated on every page of the table.
    assert all("Désignation" in page for page in pages[:2])


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (0, "0,00 €"),
        (5, "0,05 €"),
        (100, "1,00 €"),
        (99000, "990,00 €"),
        (125000, f"1{NNBSP}250,00 €"),
        (-8000, "-80,00 €"),
        (-125050, f"-1{NNBSP}250,50 €"),
        (123456789, f"1{NNBSP}234{NNBSP}567,89 €"),
    ],
)
def test_euros(cents: int, expected: str) -> None:
    assert euros(cents) == expected


@pytest.mark.parametrize("amount", [12.5, True, "100"])
def test_euros_rejects_non_integer_cents(amount: object) -> None:
    with pytest.raises(TypeError):
        euros(amount)  # type: ignore[arg-type]
