"""The PDFs as their readers and auditors get them: the fingerprint on every page and in
the metadata, the data embedded, tagged for screen readers, and the same bytes whenever
and wherever they are made."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pypdf
import pytest

from baro_reporting.documents import canonical_bytes, free_input, paid_input, synthesis_input
from baro_reporting.render import (
    ATTACHMENT,
    TEMPLATES_DIGEST,
    render_html,
    render_pdf,
    templates_digest,
)
from reporting_builders import context_of, small_edition

pytestmark = pytest.mark.unit

EDITION = small_edition()
CONTEXT = context_of(EDITION)
DOCUMENTS = {
    "synthesis": synthesis_input(CONTEXT),
    "paid": paid_input(CONTEXT, EDITION.structures[1].registration_id),
    "free": free_input(CONTEXT, EDITION.structures[2].registration_id),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return {kind: render_pdf(document) for kind, document in DOCUMENTS.items()}


def test_templates_are_those_of_the_template_version() -> None:
    assert templates_digest() == TEMPLATES_DIGEST, (
        "the templates (or the pinned Typst) changed: bump TEMPLATE_VERSION in render.py and "
        f"set TEMPLATES_DIGEST = {templates_digest()!r}, since a report's bytes are "
        "identified by its template version"
    )


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_every_page_prints_the_fingerprint_and_the_file_carries_its_data(
    kind: str, rendered: dict[str, Any]
) -> None:
    document = DOCUMENTS[kind]
    reader = pypdf.PdfReader(io.BytesIO(rendered[kind].pdf))
    fingerprint = document["fingerprint"]
    assert len(reader.pages) == rendered[kind].pages
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text().replace("\n", "").replace(" ", "")
        assert fingerprint in text, f"page {number} of the {kind} lacks the fingerprint"
    metadata = reader.metadata
    assert metadata is not None
    assert fingerprint in (metadata.get("/Keywords") or "")
    assert metadata.get("/CreationDate", "").startswith("D:20271204103000")
    (embedded,) = reader.attachments[ATTACHMENT]
    assert embedded == canonical_bytes(document)
    assert json.loads(embedded)["fingerprint"] == fingerprint


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_the_pdf_is_tagged_for_screen_readers_in_french(
    kind: str, rendered: dict[str, Any]
) -> None:
    pdf = rendered[kind].pdf
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert root["/Lang"].lower().startswith("fr")
    assert bool(root["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in root
    assert b"pdfuaid:part>1<" in pdf or b'pdfuaid:part="1"' in pdf  # PDF/UA-1 claimed
    kinds = _structure_kinds(root["/StructTreeRoot"])
    assert {"/H1", "/Table", "/TH", "/Figure"} <= kinds["types"], kinds["types"]
    assert kinds["figures_without_alt"] == 0


def _structure_kinds(tree: Any) -> dict[str, Any]:
    types: set[str] = set()
    without_alt = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        node = node.get_object() if hasattr(node, "get_object") else node
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if "/S" in node:
            types.add(str(node["/S"]))
            if node["/S"] == "/Figure" and "/Alt" not in node:
                without_alt += 1
        if "/K" in node:
            stack.append(node["/K"])
    return {"types": types, "figures_without_alt": without_alt}


def test_the_free_result_is_one_page_and_the_others_are_full_documents(
    rendered: dict[str, Any],
) -> None:
    assert rendered["free"].pages == 1
    assert rendered["paid"].pages >= 5
    assert rendered["synthesis"].pages >= 4


def test_the_same_input_gives_the_same_bytes_in_another_process(
    rendered: dict[str, Any], tmp_path: Path
) -> None:
    source = tmp_path / "input.json"
    source.write_bytes(canonical_bytes(DOCUMENTS["paid"]))
    script = (
        "import json, sys, hashlib; from baro_reporting.render import render_pdf; "
        "d = json.loads(open(sys.argv[1], encoding='utf-8').read()); "
        "print(hashlib.sha256(render_pdf(d).pdf).hexdigest())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(source)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == rendered["paid"].sha256
    assert render_pdf(DOCUMENTS["paid"]).sha256 == rendered["paid"].sha256


def test_the_synthesis_web_page_is_french_and_names_the_fingerprint() -> None:
    html = render_html(DOCUMENTS["synthesis"]).decode()
    assert '<html lang="fr' in html
    assert DOCUMENTS["synthesis"]["fingerprint"] in html
    assert "<table" in html
    assert "Villeurbanne" in html
