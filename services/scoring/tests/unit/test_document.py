"""The canonical serialiser gives the bytes the fingerprint's definition says: sorted keys,
no spaces, UTF-8 as it is, whatever the strings hold."""

from __future__ import annotations

import json

import pytest

from baro_scoring.document import canonical_json

pytestmark = pytest.mark.unit


def definition(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_every_character_is_written_as_the_definition_writes_it() -> None:
    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(characters), 4093):
        text = "".join(characters[start : start + 4093])
        document = {text: text, "a": [text, 1, None, True, -5], text[::-1]: {"é": text}}
        assert canonical_json(document) == definition(document)


def test_keys_are_sorted_by_code_point_at_every_depth() -> None:
    document = {"b": {"é": 1, "e": 2, "Z": 3, "\U0001f600": 4, "\uffff": 5}, "a": []}
    assert canonical_json(document) == definition(document)
    assert canonical_json(document).startswith('{"a":[],"b":{"Z":3,"e":2,"é":1')
