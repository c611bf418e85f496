"""Scoring's OpenAPI types every answer: a front end generates its client from it, and the
fuzz run (tests/api_fuzz) checks each body against the schema declared for it."""

from __future__ import annotations

from typing import Any

import pytest

from baro_chassis.testing import settings_of
from baro_scoring.main import create_app

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    """The document as served; the app is not started (its lifespan connects, not this)."""
    settings = settings_of("scoring", "postgresql://unused/scoring", "nats://unused:4222")
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def _component(openapi: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/"), ref
    schema: dict[str, Any] = openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_every_edition_route_declares_its_answer_and_its_refusals(
    openapi: dict[str, Any],
) -> None:
    operations = [
        (path, method, operation)
        for path, methods in openapi["paths"].items()
        if path.startswith("/editions")
        for method, operation in methods.items()
    ]
    assert len(operations) == 7
    for path, method, operation in operations:
        success = "201" if method == "post" else "200"
        answer = operation["responses"][success]["content"]["application/json"]["schema"]
        assert "$ref" in answer, (method, path, answer)
        assert _component(openapi, answer["$ref"]), (method, path)
        for refusal in ("401", "403", "404", "409", "422"):
            refused = operation["responses"][refusal]["content"]["application/json"]["schema"]
            assert refused == {"$ref": "#/components/schemas/ErrorOut"}, (path, refusal)


def test_a_structures_scores_are_one_of_two_views_told_apart_by_detail(
    openapi: dict[str, Any],
) -> None:
    answer = openapi["paths"]["/editions/{year}/scores/{registration_id}"]["get"]["responses"]
    scores = _component(openapi, answer["200"]["content"]["application/json"]["schema"]["$ref"])
    assert scores["discriminator"]["propertyName"] == "detail"
    views = {
        name: _component(openapi, ref) for name, ref in scores["discriminator"]["mapping"].items()
    }
    full, synthetic = views["full"], views["synthetic"]
    full_only = {"certified", "probes", "steps", "determinants", "items", "kpis"}
    assert full_only <= set(full["required"])
    assert not full_only & synthetic["properties"].keys()
    assert "note" in synthetic["required"]
    assert "note" not in full["properties"]
    # The JSON key is `global` (a Python keyword in the models).
    assert "global" in synthetic["properties"]
    assert "global" in full["properties"]
    # Only the full view ranks the structure among its peers.
    full_peers = _component(openapi, full["properties"]["peers"]["$ref"])
    synthetic_peers = _component(openapi, synthetic["properties"]["peers"]["$ref"])
    assert {"rank", "ranked"} <= set(full_peers["required"])
    assert not {"rank", "ranked"} & synthetic_peers["properties"].keys()


def test_a_shown_score_says_what_it_is(openapi: dict[str, Any]) -> None:
    shown = openapi["components"]["schemas"]["ShownScore"]["properties"]
    assert "out of 100" in shown["score"]["description"].lower()
    assert "full precision" in shown["exact"]["description"]
    assert shown["exact"]["type"] == "string"
