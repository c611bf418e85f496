"""An edition reporting has received nothing of is a 404 saying so, editorial content
included (it used to be taken for any year)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from baro_chassis.testing import Tokens

pytestmark = pytest.mark.integration


def test_an_unknown_edition_has_no_editorial_content(reporting: TestClient, tokens: Tokens) -> None:
    read = reporting.get("/editions/2031/editorial", headers=tokens.admin)
    written = reporting.put("/editions/2031/editorial", json={"content": {}}, headers=tokens.admin)
    for refused in (read, written):
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"] == "not_found"
        assert "no event of edition 2031" in refused.json()["message"]
    for path in ("/editions/2031/publication", "/editions/2031/synthesis.html"):
        assert reporting.get(path).status_code == 404
