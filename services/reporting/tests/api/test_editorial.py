"""Editorial content: versioned, refused with a clear 4xx when malformed, and used by the
synthesis that names its version."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from baro_chassis.testing import Tokens, eventually
from reporting_builders import publish_edition, small_edition

pytestmark = pytest.mark.integration

INITIATIVE = {
    "title": "Un tchat pour l'état civil",
    "text": "Tenu par les agents d'accueil, de 8 h à 19 h.",
    "link": "https://www.example.fr/tchat",
}


def test_editorial_content_is_versioned_and_checked(
    reporting: TestClient, nats_url: str, tokens: Tokens
) -> None:
    edition = small_edition(2027)
    publish_edition(nats_url, edition)
    eventually(lambda: reporting.get("/editions/2027/publication").status_code == 200, 90)
    empty = reporting.get("/editions/2027/editorial", headers=tokens.admin).json()
    assert empty["version"] == 0

    bad = reporting.put(
        "/editions/2027/editorial",
        headers=tokens.admin,
        json={"content": {"initiatives": [{**INITIATIVE, "link": "not a link", "title": ""}]}},
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert any("link" in f for f in fields), bad.json()
    assert any("title" in f for f in fields), bad.json()

    lyon = edition.structures[1].registration_id  # not a laureate
    stranger = reporting.put(
        "/editions/2027/editorial",
        headers=tokens.admin,
        json={"content": {"laureates": [{"registration_id": lyon, "mention": "numérique"}]}},
    )
    assert stranger.status_code == 422
    assert "not laureates of edition 2027" in stranger.json()["message"]
    assert "Villeurbanne" in stranger.json()["message"]

    bron = edition.structures[2].registration_id
    twice = reporting.put(
        "/editions/2027/editorial",
        headers=tokens.admin,
        json={"content": {"laureates": [{"registration_id": bron}, {"registration_id": bron}]}},
    )
    assert twice.status_code == 422
    assert "laureates named more than once" in twice.json()["message"]
    figure = {
        "code": "email_answered",
        "label": "Courriels",
        "public": "60",
        "private": "80",
        "source": "Étude X",
    }
    same_code = reporting.put(
        "/editions/2027/editorial",
        headers=tokens.admin,
        json={"content": {"references": [figure, figure]}},
    )
    assert same_code.status_code == 422
    assert "same code: email_answered" in same_code.json()["message"]
    # Nothing refused was kept.
    assert reporting.get("/editions/2027/editorial", headers=tokens.admin).json()["version"] == 0

    content = {
        "laureates": [{"registration_id": bron, "mention": "numérique"}],
        "initiatives": [INITIATIVE],
    }
    first = reporting.put(
        "/editions/2027/editorial",
        headers=tokens.admin,
        json={"content": content, "expected_version": 0},
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    # The same request again (the client did not hear the answer): answered as the first.
    retried = reporting.put(
        "/editions/2027/editorial",
        headers=tokens.admin,
        json={"content": content, "expected_version": 0},
    )
    assert retried.status_code == 200, retried.text
    assert retried.json() == first.json()
    stale = reporting.put(
        "/editions/2027/editorial",
        headers=tokens.admin,
        json={"content": {"initiatives": []}, "expected_version": 0},
    )
    assert stale.status_code == 409
    assert "version 1" in stale.json()["message"]
    kept = reporting.get("/editions/2027/editorial", headers=tokens.admin).json()
    assert kept["version"] == 1
    assert kept["content"]["initiatives"][0]["title"] == INITIATIVE["title"]
    second = reporting.put(
        "/editions/2027/editorial", headers=tokens.admin, json={"content": {"initiatives": []}}
    )
    assert second.json()["version"] == 2
    back = reporting.get("/editions/2027/editorial?version=1", headers=tokens.admin).json()
    assert back["content"]["initiatives"][0]["title"] == INITIATIVE["title"]
    assert (
        reporting.get("/editions/2027/editorial?version=7", headers=tokens.admin).status_code == 404
    )
    assert (
        reporting.put(
            "/editions/2027/editorial", headers=tokens.structure(bron), json={"content": {}}
        ).status_code
        == 403
    )

    synthesis = reporting.get("/editions/2027/synthesis.pdf")
    assert synthesis.status_code == 200
    listed = reporting.get("/editions/2027/reports", headers=tokens.admin).json()["reports"]
    versions = {r["editorial_version"] for r in listed if r["kind"] == "synthesis"}
    assert 2 in versions
