"""The bounds of numbers every service takes from its callers, defined once.

PostgreSQL columns are 32- or 64-bit: an unbounded integer from a path or a body (a year of
2^31, say) would reach the database and fail there as a 500. Every year, version and count a
caller sends is bounded here or in the service's schemas, and refused with a 422 naming the
field and the range.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

FIRST_EDITION = 2012
"""The barometer's first edition."""
LAST_EDITION = 2100

YEAR_RANGE = f"an edition year from {FIRST_EDITION} to {LAST_EDITION}"

Year = Annotated[
    int, Path(ge=FIRST_EDITION, le=LAST_EDITION, description=f"The edition: {YEAR_RANGE}.")
]
"""The `{year}` of a route."""

EditionYear = Annotated[int, Field(ge=FIRST_EDITION, le=LAST_EDITION, examples=[2025])]
"""An edition year in a request body."""

MAX_VERSION = 1_000_000
"""Versions (of a referential, an editorial) count revisions: far below this."""

Version = Annotated[int | None, Query(ge=1, le=MAX_VERSION, description="Default: the latest.")]
"""A `?version=` query parameter."""

MAX_POPULATION = 100_000_000
"""A structure's population: France counts ~68 M people; its largest local authority is a
region (Île-de-France, ~12.3 M), its largest city ~2.1 M. 100 M admits any French public
body, national ones included, and refuses what cannot be a population (10^30)."""

MAX_PRICE_CENTS = 10_000_000
"""A price or an amount of a quote line, in cents: 100,000 € HT, eighty times the dearest
2025 price (1,250 €)."""
