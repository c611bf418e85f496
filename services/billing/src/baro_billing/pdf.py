"""Render an order form ("bon de commande") issued by AFNOR finance as an A4 PDF.

The layout is: letterhead (seller), title with the order form number, edition and issue date,
buyer block (name, SIRET, address), a table of lines (label, quantity, unit price HT, amount HT)
repeated across pages when needed, the HT / VAT / TTC totals and a "Bon pour accord" signature
block with empty areas to fill in by hand.

Font and euro sign: the PDF uses the Helvetica core font with the Windows-1252 encoding
(``core_fonts_encoding = "cp1252"``, written as /WinAnsiEncoding, which every PDF reader
supports). cp1252 covers French accents, "€", "œ", "«»", the en dash and the typographic
apostrophe, so amounts are printed with a real "€" and no font file has to ship with the
service: fpdf2 bundles no TTF and a system font such as DejaVu may be missing from the runtime
image. The few characters outside cp1252 are downgraded by ``_pdf_text`` (narrow no-break
space -> no-break space, accents stripped for other scripts, "?" as a last resort) instead of
making rendering fail.

The output is deterministic: the creation date is derived from ``issued_on`` and fpdf2 derives
the file identifier from the content, so the same form always gives the same bytes (for a given
fpdf2 version, which is written in the /Producer entry).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Final

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

__all__ = ["OrderFormPdf", "PdfLine", "euros", "render_order_form"]

# French grouping per CLDR (fr-FR): narrow no-break space between thousands, so that an amount
# is never split across two lines. A plain space separates the amount from the euro sign.
_THOUSANDS_SEP: Final = "\u202f"

_ENCODING: Final = "cp1252"
_FONT: Final = "Helvetica"

_MARGIN: Final = 15.0
_PAGE_BOTTOM_MARGIN: Final = 18.0
_HALF_WIDTH: Final = 85.0
_RIGHT_COLUMN_X: Final = 110.0
_LINE_HEIGHT: Final = 5.0

_BLACK: Final = (0, 0, 0)
_GREY: Final = (110, 110, 110)
_RULE_GREY: Final = (150, 150, 150)
_LIGHT_FILL: Final = (235, 235, 235)
_RED: Final = (180, 30, 30)

_STATUS_LABELS: Final[dict[str, str]] = {
    "draft": "brouillon",
    "issued": "émis",
    "signed": "signé",
    "cancelled": "annulé",
}

# Characters outside cp1252 that have a close equivalent inside it.
_SUBSTITUTES: Final = str.maketrans(
    {
        "\u202f": "\u00a0",  # narrow no-break space
        "\u2007": "\u00a0",  # figure space
        "\u2009": " ",  # thin space
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2212": "-",  # minus sign
    }
)


@dataclass(frozen=True)
class PdfLine:
    """One line of the order form; amounts are HT, in integer euro cents."""

    label: str
    quantity: int
    unit_cents: int
    amount_cents: int
    vat_cents: int


@dataclass(frozen=True)
class OrderFormPdf:
    """Everything printed on an order form; amounts are integer euro cents."""

    number: str
    edition: int
    issued_on: date
    buyer_name: str
    buyer_siret: str
    buyer_address: str
    lines: tuple[PdfLine, ...]
    total_ht_cents: int
    total_vat_cents: int
    total_ttc_cents: int
    vat_rate_percent: int
    status: str
    seller: str = "AFNOR \u2013 Baromètre de l'expérience citoyenne"


def euros(cents: int) -> str:
    """Format integer cents the French way: ``125000`` -> ``"1 250,00 €"``.

    The thousands separator is a narrow no-break space (U+202F); the space before "€" is a
    plain space. Negative amounts get a leading hyphen-minus: ``-8000`` -> ``"-80,00 €"``.
    """
    # bool is an int subclass and a float would silently produce a wrong amount.
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"amount must be integer cents, got {type(cents).__name__}")
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{_group(whole)},{rest:02d} €"


def render_order_form(form: OrderFormPdf) -> bytes:
    """Render ``form`` as PDF bytes (A4 portrait, as many pages as the lines need)."""
    pdf = _OrderFormDocument(form.number)
    pdf.core_fonts_encoding = _ENCODING
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=_PAGE_BOTTOM_MARGIN)
    pdf.set_creation_date(datetime.combine(form.issued_on, time(), tzinfo=UTC))
    pdf.set_title(f"Bon de commande {form.number}")
    pdf.set_subject(f"Baromètre de l'expérience citoyenne {form.edition}")
    pdf.set_author(form.seller)
    pdf.set_creator("baro-billing")
    pdf.set_lang("fr-FR")

    pdf.add_page()
    _draw_header(pdf, form)
    _draw_parties(pdf, form)
    _draw_lines(pdf, form)
    _draw_totals(pdf, form)
    _draw_signature(pdf)
    return bytes(pdf.output())


class _OrderFormDocument(FPDF):
    """FPDF with a footer repeating the order form number and the page count."""

    def __init__(self, number: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._number = number

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT, size=8)
        self.set_text_color(*_GREY)
        # "{nb}" is fpdf2's alias for the total page count, substituted at output time.
        text = _pdf_text(f"Bon de commande {self._number} \u2013 page {self.page_no()}/{{nb}}")
        self.cell(w=0, h=4, text=text, align=Align.C)
        self.set_text_color(*_BLACK)


def _draw_header(pdf: FPDF, form: OrderFormPdf) -> None:
    pdf.set_font(_FONT, style="B", size=10)
    _line(pdf, form.seller)
    pdf.ln(6)
    pdf.set_font(_FONT, style="B", size=18)
    pdf.multi_cell(w=0, h=9, text=_pdf_text(f"Bon de commande {form.number}"), new_x=XPos.LMARGIN)
    pdf.ln(2)


def _draw_parties(pdf: FPDF, form: OrderFormPdf) -> None:
    """Edition, date and status on the left; the buyer in a framed box on the right."""
    top = pdf.get_y()

    pdf.set_font(_FONT, size=11)
    _line(pdf, f"Baromètre de l'expérience citoyenne {form.edition}", width=_HALF_WIDTH)
    pdf.set_font(_FONT, size=10)
    _line(pdf, f"Date d'émission : {form.issued_on.strftime('%d/%m/%Y')}", width=_HALF_WIDTH)
    pdf.set_font(_FONT, size=8)
    pdf.set_text_color(*(_RED if form.status == "cancelled" else _GREY))
    _line(pdf, f"Statut : {_STATUS_LABELS.get(form.status, form.status)}", width=_HALF_WIDTH)
    pdf.set_text_color(*_BLACK)
    left_bottom = pdf.get_y()

    box_top = top
    pdf.set_xy(_RIGHT_COLUMN_X, box_top + 2)
    pdf.set_font(_FONT, size=8)
    pdf.set_text_color(*_GREY)
    _buyer_line(pdf, "Acheteur")
    pdf.set_text_color(*_BLACK)
    pdf.set_font(_FONT, style="B", size=10)
    _buyer_line(pdf, form.buyer_name)
    pdf.set_font(_FONT, size=10)
    _buyer_line(pdf, f"SIRET : {form.buyer_siret}")
    for address_line in form.buyer_address.splitlines():
        if address_line.strip():
            _buyer_line(pdf, address_line.strip())
    box_bottom = pdf.get_y() + 2
    pdf.set_draw_color(*_RULE_GREY)
    pdf.rect(_RIGHT_COLUMN_X - 3, box_top, _HALF_WIDTH + 3, box_bottom - box_top)
    pdf.set_draw_color(*_BLACK)

    pdf.set_xy(pdf.l_margin, max(left_bottom, box_bottom) + 8)


def _draw_lines(pdf: FPDF, form: OrderFormPdf) -> None:
    pdf.set_font(_FONT, size=9)
    pdf.set_draw_color(*_RULE_GREY)
    headings = FontFace(emphasis="BOLD", fill_color=_LIGHT_FILL)
    with pdf.table(
        col_widths=(100, 14, 33, 33),
        text_align=(Align.L, Align.R, Align.R, Align.R),
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=headings,
        line_height=_LINE_HEIGHT,
        padding=(1.5, 2, 1.5, 2),
        repeat_headings=1,
    ) as table:
        heading = table.row()
        for title in ("Désignation", "Qté", "Prix unitaire HT", "Montant HT"):
            heading.cell(_pdf_text(title))
        if not form.lines:
            table.row().cell(_pdf_text("Aucune ligne"), colspan=4, align=Align.C)
        for item in form.lines:
            row = table.row()
            row.cell(_pdf_text(item.label))
            row.cell(_pdf_text(_group(item.quantity)))
            row.cell(_pdf_text(euros(item.unit_cents)))
            row.cell(_pdf_text(euros(item.amount_cents)))
    pdf.set_draw_color(*_BLACK)
    pdf.ln(4)


def _draw_totals(pdf: FPDF, form: OrderFormPdf) -> None:
    row_height = 7.0
    rows = (
        ("Total HT", form.total_ht_cents, False),
        (f"TVA {form.vat_rate_percent} %", form.total_vat_cents, False),
        ("Total TTC", form.total_ttc_cents, True),
    )
    if pdf.will_page_break(row_height * len(rows)):
        pdf.add_page()
    label_width, amount_width = 45.0, 35.0
    x = pdf.w - pdf.r_margin - label_width - amount_width
    pdf.set_draw_color(*_RULE_GREY)
    pdf.set_fill_color(*_LIGHT_FILL)
    for label, cents, emphasised in rows:
        pdf.set_x(x)
        pdf.set_font(_FONT, style="B" if emphasised else "", size=10)
        pdf.cell(w=label_width, h=row_height, text=_pdf_text(label), border=1, fill=emphasised)
        pdf.cell(
            w=amount_width,
            h=row_height,
            text=_pdf_text(euros(cents)),
            border=1,
            align=Align.R,
            fill=emphasised,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.set_draw_color(*_BLACK)
    pdf.ln(10)


def _draw_signature(pdf: FPDF) -> None:
    """'Bon pour accord' block: a line for name and title, one for the date, a stamp box."""
    box_height = 35.0
    if pdf.will_page_break(24 + box_height):
        pdf.add_page()
    pdf.set_font(_FONT, style="B", size=11)
    _line(pdf, "Bon pour accord")
    pdf.set_font(_FONT, style="I", size=8)
    pdf.set_text_color(*_GREY)
    _line(pdf, "À retourner daté, signé et revêtu du cachet de la structure.")
    pdf.set_text_color(*_BLACK)
    pdf.ln(3)

    top = pdf.get_y()
    left = pdf.l_margin
    pdf.set_draw_color(*_RULE_GREY)
    pdf.set_font(_FONT, size=10)

    _line(pdf, "Nom et qualité du signataire :", width=_HALF_WIDTH)
    name_rule_y = pdf.get_y() + 8
    pdf.line(left, name_rule_y, left + _HALF_WIDTH, name_rule_y)
    pdf.line(left, name_rule_y + 8, left + _HALF_WIDTH, name_rule_y + 8)
    pdf.set_y(name_rule_y + 14)
    _line(pdf, "Date :", width=_HALF_WIDTH)
    date_rule_y = pdf.get_y() + 6
    pdf.line(left, date_rule_y, left + _HALF_WIDTH, date_rule_y)

    pdf.set_xy(_RIGHT_COLUMN_X, top)
    pdf.cell(w=_HALF_WIDTH, h=_LINE_HEIGHT, text=_pdf_text("Signature et cachet :"))
    pdf.rect(_RIGHT_COLUMN_X, top + _LINE_HEIGHT + 1, _HALF_WIDTH, box_height)
    pdf.set_draw_color(*_BLACK)
    pdf.set_xy(left, max(date_rule_y, top + _LINE_HEIGHT + 1 + box_height) + 4)


def _line(pdf: FPDF, text: str, width: float = 0) -> None:
    """Write ``text`` at the left margin, wrapping within ``width`` (0: up to the margin)."""
    pdf.set_x(pdf.l_margin)
    pdf.multi_cell(
        w=width, h=_LINE_HEIGHT, text=_pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )


def _buyer_line(pdf: FPDF, text: str) -> None:
    pdf.set_x(_RIGHT_COLUMN_X)
    pdf.multi_cell(
        w=_HALF_WIDTH - 3, h=_LINE_HEIGHT, text=_pdf_text(text), new_x=XPos.LEFT, new_y=YPos.NEXT
    )


def _group(number: int) -> str:
    return f"{number:,}".replace(",", _THOUSANDS_SEP)


def _pdf_text(text: str) -> str:
    """Make ``text`` printable with the cp1252 core font, degrading what cp1252 lacks."""
    text = unicodedata.normalize("NFC", text).translate(_SUBSTITUTES)
    out: list[str] = []
    for char in text:
        if char != "\n" and unicodedata.category(char) == "Cc":
            out.append(" ")
        elif _encodable(char):
            out.append(char)
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            out.append(base if base and _encodable(base) else "?")
    return "".join(out)


def _encodable(text: str) -> bool:
    try:
        text.encode(_ENCODING)
    except UnicodeEncodeError:
        return False
    return True
