"""A realistic edition for the reporting benchmark: STRUCTURES structures of every
category, scored on the default referential's 133 items over six channels (a visit for one
in four), 85% paying; built with the reporting tests' builders."""

from __future__ import annotations

import json
import random
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services/reporting/tests"))

from baro_contracts import registration_v1 as reg
from reporting_builders import Edition

CHANNELS = ("phone", "email", "mail", "website", "social")


def default_catalog() -> list[dict[str, str]]:
    text = (resources.files("baro_audit_ingest") / "data/default_referential.json").read_text()
    return [
        {k: item[k] for k in ("code", "label", "channel", "step", "determinant")}
        for item in json.loads(text)["items"]
    ]


def realistic_edition(year: int, structures: int, seed: int = 7) -> Edition:
    rng = random.Random(seed)
    edition = Edition(year, catalog=default_catalog())
    categories = list(reg.Category)
    for n in range(structures):
        channels = [*CHANNELS, "visit"] if n % 4 == 0 else list(CHANNELS)
        structure = edition.structure(
            f"Structure n°{n + 1}",
            {c: str(rng.randint(35, 95)) for c in channels},
            category=categories[n % len(categories)],
            participation=reg.Participation.PAID if n % 7 else reg.Participation.FREE,
            certified=n % 3 == 0,
            probes=13 if n % 11 else 12,
        )
        structure.item_scores = {
            item["code"]: Decimal(rng.choice((0, 50, 100)))
            for item in edition.catalog
            if item["channel"] in channels
        }
    return edition
