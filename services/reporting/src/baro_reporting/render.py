"""PDF (and HTML) from a report's input document, with Typst.

The data goes in as JSON (the template reads it, never spliced into markup) and is embedded
in the PDF as `donnees.json`; the fingerprint is printed on every page and set in the
metadata; the file is tagged PDF/UA-1 in French. The only clock is the publication time, so
the same input and template version give the same bytes in any process on any day.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

import typst

from baro_reporting.documents import canonical_bytes

# Bump whenever a template, a data file the documents are made with (history, labels) or the
# renderer changes (test_templates_are_those_of_the_template_version says when): a report is
# identified by it, and a published report's bytes never change.
TEMPLATE_VERSION = "2026.4"
TEMPLATES_DIGEST = "491c23b6af3fbfcf53d6c04559852b2f92fbf9a94f3aa233cbbd7abdb42d3e02"

ATTACHMENT = "donnees.json"


def templates_dir() -> Path:
    return Path(str(resources.files("baro_reporting") / "templates"))


def templates_digest() -> str:
    """SHA-256 of the templates and data files (names and bytes) and the renderer's version."""
    sha = hashlib.sha256(metadata.version("typst").encode())
    data = templates_dir().parent / "data"
    for path in [*sorted(templates_dir().glob("*.typ")), *sorted(data.glob("*.json"))]:
        sha.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    input: bytes
    pages: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()

    @property
    def input_sha256(self) -> str:
        return hashlib.sha256(self.input).hexdigest()


_PAGE = re.compile(rb"/Type\s*/Page(?![a-z])")


def _compile(document: dict[str, Any], output: Literal["pdf", "html"]) -> tuple[bytes, bytes]:
    data = canonical_bytes(document)
    compiled = typst.compile(
        str(templates_dir() / f"{document['kind']}.typ"),
        root=str(templates_dir()),
        sys_inputs={"data": data.decode()},
        format=output,
        pdf_standards=["ua-1"] if output == "pdf" else [],
        timestamp=datetime.fromisoformat(document["published_at"]).replace(microsecond=0),
        ignore_system_fonts=True,
    )
    assert isinstance(compiled, bytes)
    return compiled, data


def render_pdf(document: dict[str, Any]) -> Rendered:
    pdf, data = _compile(document, "pdf")
    return Rendered(pdf=pdf, input=data, pages=page_count(pdf))


def render_html(document: dict[str, Any]) -> bytes:
    html, _ = _compile(document, "html")
    return html


def page_count(pdf: bytes) -> int:
    """Pages of a PDF Typst wrote (its page objects are not in compressed object streams)."""
    return len(_PAGE.findall(pdf))
