"""The canonical JSON text of the published results: sorted keys, no spaces, UTF-8 as it
is, no NaN. One encoder, so that every part of the text is made the same way."""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    return _ENCODER.encode(value)


def object_text(members: dict[str, str]) -> str:
    """The canonical text of an object whose members' values are already canonical text."""
    return "{" + ",".join(f"{canonical_json(key)}:{members[key]}" for key in sorted(members)) + "}"
