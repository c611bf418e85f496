"""The reporting service on real NATS JetStream and PostgreSQL: from scoring's publication
to stored, announced, verifiable reports, and who may read them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from baro_chassis.settings import Settings
from baro_chassis.testing import Tokens, eventually, publish_events, read_stream
from baro_contracts.reporting_v1 import ReportRendered
from baro_reporting.replay import replay_edition
from reporting_builders import canonical, publish_edition, small_edition

pytestmark = pytest.mark.integration
WAIT = 90.0


def reports_done(client: TestClient, year: int, fingerprint: str | None = None) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = client.get(f"/editions/{year}/publication")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        if fingerprint and body["fingerprint"] != fingerprint:
            return None
        return body if body["reports_rendered"] == body["reports_wanted"] else None

    result: dict[str, Any] = eventually(check, timeout=WAIT)
    return result


def rendered_events(nats_url: str, expected: int) -> list[dict[str, Any]]:
    messages = asyncio.run(read_stream(nats_url, "REPORTING", expected, wait_seconds=WAIT))
    return [
        body
        for body in (json.loads(m.data) for m in messages)
        if body["event_type"] == "reporting.v1.report_rendered"
    ]


def test_a_publication_makes_every_report_once_stored_announced_and_replayable(
    reporting: TestClient, nats_url: str, reporting_settings: Settings, tokens: Tokens
) -> None:
    edition = small_edition(2027)
    published = publish_edition(nats_url, edition)
    done = reports_done(reporting, 2027)
    assert done["fingerprint"] == published.fingerprint
    assert done["reports_wanted"] == 5  # the synthesis and one report per structure

    announced = rendered_events(nats_url, 5)
    assert len(announced) == 5
    kinds = sorted(a["kind"] for a in announced)
    assert kinds == ["free", "paid", "paid", "paid", "synthesis"]
    listed = reporting.get("/editions/2027/reports", headers=tokens.admin).json()["reports"]
    by_id = {r["report_id"]: r for r in listed}
    for event in announced:
        report = by_id[event["report_id"]]
        assert event["sha256"] == report["sha256"]
        assert event["fingerprint"] == published.fingerprint
        pdf = reporting.get(report["pdf_url"], headers=tokens.admin)
        assert hashlib.sha256(pdf.content).hexdigest() == event["sha256"]

    # The same events again, under other message ids, then a marker edition behind them:
    # once the marker's reports are made, the duplicates were consumed, and changed nothing.
    asyncio.run(publish_events(nats_url, [*edition.registration_events, published], msg_id=False))
    marker = small_edition(2028)
    publish_edition(nats_url, marker)
    reports_done(reporting, 2028)
    assert len(rendered_events(nats_url, 10)) == 10
    assert reporting.get("/editions/2027/reports", headers=tokens.admin).json()["reports"] == listed

    outcome = asyncio.run(replay_edition(reporting_settings, 2027, workers=1))
    assert len(outcome.verdicts) == 5
    assert outcome.all_match, [v for v in outcome.verdicts if not v.matches]

    # An announcement whose bytes the streams' facts do not give is found out.
    forged = ReportRendered.model_validate(
        {**announced[0], "event_id": "reporting:999999", "sha256": "0" * 64}
    )
    asyncio.run(publish_events(nats_url, [forged]))
    outcome = asyncio.run(replay_edition(reporting_settings, 2027, workers=1))
    assert [v.status for v in outcome.verdicts].count("MISMATCH") == 1
    assert not outcome.all_match


def test_a_document_that_does_not_match_its_fingerprint_makes_no_report(
    reporting: TestClient, nats_url: str
) -> None:
    edition = small_edition(2027)
    tampered = canonical(edition.document()).replace(b'"Lyon"', b'"Lyons"')
    publish_edition(nats_url, edition, document_text=tampered)
    (dead,) = asyncio.run(read_stream(nats_url, "DEAD_LETTER", 1, wait_seconds=WAIT))
    assert dead.subject == "deadletter.reporting-publications.scoring.v1.2027.results_published"
    reason = (dead.headers or {})["Baro-Dead-Letter-Reason"]
    assert "SHA-256" in reason
    assert "no report is made from it" in reason
    response = reporting.get("/editions/2027/synthesis.pdf")
    assert response.status_code == 404
    assert "no published results of edition 2027" in response.json()["message"]


def test_a_later_publication_supersedes_and_earlier_reports_stay_by_id(
    reporting: TestClient, nats_url: str, tokens: Tokens
) -> None:
    edition = small_edition(2027)
    first = publish_edition(nats_url, edition)
    reports_done(reporting, 2027, first.fingerprint)
    old = reporting.get("/editions/2027/reports", headers=tokens.admin).json()["reports"]

    edition.structures[1].channels["email"] += 10  # a correction, published again
    second = publish_edition(nats_url, edition)
    assert second.fingerprint != first.fingerprint
    done = reports_done(reporting, 2027, second.fingerprint)
    assert [s["fingerprint"] for s in done["superseded"]] == [first.fingerprint]
    synthesis = reporting.get("/editions/2027/synthesis.pdf")
    assert synthesis.headers["Baro-Fingerprint"] == second.fingerprint
    for report in old:
        kept = reporting.get(report["pdf_url"], headers=tokens.admin)
        assert kept.status_code == 200
        assert kept.headers["Baro-Fingerprint"] == first.fingerprint
    listed = reporting.get("/editions/2027/reports", headers=tokens.admin).json()["reports"]
    assert sum(1 for r in listed if r["current"]) == 5
    assert len(listed) == 10


def test_each_reader_gets_what_is_theirs(
    reporting: TestClient, nats_url: str, tokens: Tokens
) -> None:
    edition = small_edition(2027)
    publish_edition(nats_url, edition)
    reports_done(reporting, 2027)
    villeurbanne, lyon, bron, _ = (s.registration_id for s in edition.structures)
    own = reporting.get(
        f"/editions/2027/structures/{lyon}/report.pdf", headers=tokens.structure(lyon)
    )
    assert own.status_code == 200
    assert own.headers["content-type"] == "application/pdf"
    other = reporting.get(
        f"/editions/2027/structures/{villeurbanne}/report.pdf", headers=tokens.structure(lyon)
    )
    assert other.status_code == 403
    assert reporting.get(f"/editions/2027/structures/{lyon}/report.pdf").status_code == 401
    assert (
        reporting.get(
            f"/editions/2027/structures/{lyon}/report.pdf", headers=tokens.frontend
        ).status_code
        == 403
    )
    free = reporting.get(f"/editions/2027/structures/{bron}/report", headers=tokens.structure(bron))
    assert free.json()["kind"] == "free"
    assert free.json()["pages"] == 1

    assert reporting.get("/editions/2027/synthesis.pdf").status_code == 200  # public
    assert reporting.get("/editions/2027/open-data/national.csv").status_code == 200
    assert reporting.get("/editions/2027/synthesis.html").status_code == 200
    csv = reporting.get("/editions/2027/exports/results.csv", headers=tokens.admin)
    assert csv.status_code == 200
    assert csv.content.startswith(b"\xef\xbb\xbf")
    assert (
        reporting.get(
            "/editions/2027/exports/results.xlsx", headers=tokens.structure(lyon)
        ).status_code
        == 403
    )
    for path in ("/editions/2026/synthesis.pdf", "/editions/99999/synthesis.pdf"):
        response = reporting.get(path)
        assert response.status_code in (404, 422), path
        assert "message" in response.json() or "detail" in response.json()


def test_the_build_command_renders_only_what_is_missing(
    reporting: TestClient, nats_url: str, reporting_settings: Settings
) -> None:
    publish_edition(nats_url, small_edition(2027))
    reports_done(reporting, 2027)
    script = Path(sysconfig.get_path("scripts")) / "baro-reporting"
    env = {
        **os.environ,
        "NATS_URL": reporting_settings.nats_url,
        "REPORTING_DATABASE_URL": reporting_settings.database_url,
        "BARO_JWT_SECRET": reporting_settings.jwt_secret,
    }
    result = subprocess.run(
        [str(script), "build", "--edition", "2027", "--workers", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "5 reports" in result.stdout
    assert "0 rendered now, 5 already stored" in result.stdout
    missing = subprocess.run(
        [str(script), "build", "--edition", "2031"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2
    assert "no published results of edition 2031" in missing.stderr
