"""The import command: every line accounted for, rejected lines reported with their reason,
the rest recorded; importing the same file again records nothing new."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from audit_builders import probe_body
from baro_audit_ingest.campaign import ImportReport, import_probes, read_lines
from baro_chassis.testing import TEST_JWT_SECRET, Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel


def run_import(client: TestClient, path: Path) -> ImportReport:
    transport = httpx.ASGITransport(app=client.app)
    return asyncio.run(
        import_probes(
            read_lines(path), "http://audit", concurrency=4, progress=False, transport=transport
        )
    )


def plan_lines(
    client: TestClient, tokens: Tokens, registration: reg.StructureRegistered
) -> list[dict[str, Any]]:
    plan = client.get(
        f"/editions/2027/plans/{registration.registration_id}", headers=tokens.auditor
    ).json()
    lines = []
    for slot in plan["probes"]:
        body = probe_body(registration, Channel(slot["channel"]), site_id=slot["site_id"])
        lines.append({"edition": 2027, **body})
    return lines


def test_import_reports_each_rejected_line_and_records_the_rest_once(
    client: TestClient,
    tokens: Tokens,
    panel: list[reg.StructureRegistered],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BARO_JWT_SECRET", TEST_JWT_SECRET)
    good = plan_lines(client, tokens, panel[0])
    unknown_item = {
        **good[0],
        "probe_id": "7b1e0f8e-0d5a-4c1e-9d3b-1f2a3b4c5d6e",
        "answers": {**good[0]["answers"], "XXX-ACC-99": True},
    }
    extra_phone = {
        **next(g for g in good if g["channel"] == "phone"),
        "probe_id": "9c2d1e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
    }
    lines = [
        *(json.dumps(g) for g in good[:6]),
        "{not json",
        json.dumps({k: v for k, v in good[6].items() if k != "edition"}),
        json.dumps(unknown_item),
        json.dumps(good[0]),  # the same probe twice in one file
        *(json.dumps(g) for g in good[6:]),
        "",
    ]
    path = tmp_path / "probes.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = run_import(client, path)

    assert report.recorded == len(good) == 13
    assert report.already_present == 1
    assert [number for number, _ in report.rejected] == [7, 8, 9]
    reasons = dict(report.rejected)
    assert "not a probe" in reasons[7]
    assert "edition" in reasons[8]
    assert "422" in reasons[9]
    assert "XXX-ACC-99" in reasons[9]

    # A 14th probe beyond the plan, then the whole file again: nothing new is recorded.
    path.write_text(path.read_text() + json.dumps(extra_phone) + "\n")
    again = run_import(client, path)
    assert again.recorded == 0
    assert again.already_present == len(good) + 1
    assert [number for number, _ in again.rejected] == [7, 8, 9, 19]
    assert "409" in dict(again.rejected)[19]
    plan = client.get(
        f"/editions/2027/plans/{panel[0].registration_id}", headers=tokens.auditor
    ).json()
    assert plan["probes_recorded"] == 13
