"""Numbers as a French reader reads them: one decimal, a decimal comma, signed changes
(with a true minus sign), a narrow no-break space between thousands, and an en dash for
"no value"."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

NO_VALUE = "\u2013"
MINUS = "\u2212"

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def decimal_of(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def one_decimal(value: Decimal | str | None) -> str:
    """64.58 → "64,6"; NO_VALUE when there is no value."""
    number = decimal_of(value)
    if number is None:
        return NO_VALUE
    rounded = number.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{rounded:,.1f}".replace(",", "\u202f").replace(".", ",")


def signed(value: Decimal | None) -> str:
    """2.1 → "+2,1", -0.4 → MINUS + "0,4", 0 → "="; "" when there is no value."""
    if value is None:
        return ""
    text = one_decimal(abs(value))
    if text == "0,0":
        return "="
    return ("+" if value > 0 else MINUS) + text


def whole(value: int | None) -> str:
    return NO_VALUE if value is None else f"{value:,}".replace(",", "\u202f")


def french_date(year: int, month: int, day: int) -> str:
    return f"{'1er' if day == 1 else day} {MONTHS[month - 1]} {year}"
