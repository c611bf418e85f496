"""Correcting a recorded probe: a new revision saying what changed, who changed it and why;
the recorded answers stay in the history, and a probe is never edited or deleted in place."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from audit_builders import (
    assert_refused,
    get_probe,
    headers_as,
    post_probe,
    probe_body,
)
from baro_chassis.auth import Role
from baro_chassis.testing import FakeClock, Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel

MYSTERY_CITIZEN = headers_as("MC-042", Role.AUDITOR)


def correct(
    client: TestClient,
    headers: dict[str, str],
    probe_id: str,
    *,
    answers: dict[str, Any] | None = None,
    measures: dict[str, Any] | None = None,
    reason: str = "Wrong box ticked on the tablet",
    year: int = 2027,
) -> Response:
    body: dict[str, Any] = {"reason": reason}
    if answers is not None:
        body["answers"] = answers
    if measures is not None:
        body["measures"] = measures
    return client.post(
        f"/editions/{year}/probes/{probe_id}/corrections", json=body, headers=headers
    )


def record(client: TestClient, tokens: Tokens, body: dict[str, Any]) -> dict[str, Any]:
    response = post_probe(client, tokens.auditor, body)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def phone(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A recorded phone probe: what was sent, and what the service answered."""
    body = probe_body(panel[0], Channel.PHONE)
    return body, record(client, tokens, body)


def current(client: TestClient, tokens: Tokens, probe_id: str) -> dict[str, Any]:
    response = get_probe(client, tokens.auditor, probe_id)
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- accepted corrections -----------------------------------------------------------------


def test_an_auditor_corrects_a_probe_into_revision_2(
    client: TestClient,
    tokens: Tokens,
    clock: FakeClock,
    phone: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    body, recorded = phone
    clock.advance(days=2)
    response = correct(
        client,
        MYSTERY_CITIZEN,
        body["probe_id"],
        # PHO-ACC-01 is already true: not a change, so not in the correction.
        answers={"PHO-PRO-03": "partial", "PHO-INF-04": False, "PHO-ACC-01": True},
    )
    assert response.status_code == 201, response.text
    probe = response.json()
    assert probe["revision"] == 2
    assert probe["answers"] == {**body["answers"], "PHO-PRO-03": "partial", "PHO-INF-04": False}
    assert probe["measures"] == body["measures"]
    assert probe["slot"] == recorded["slot"]
    assert probe["recorded_at"] == recorded["recorded_at"]
    first, correction = probe["history"]
    assert first == recorded["history"][0]
    assert first["kind"] == "recorded"
    assert first["revision"] == 1
    assert first["answers"] == body["answers"]
    assert first["measures"] == body["measures"]
    assert first["reason"] is None
    assert correction["kind"] == "correction"
    assert correction["revision"] == 2
    assert correction["answers"] == {"PHO-PRO-03": "partial", "PHO-INF-04": False}
    assert correction["measures"] == {}
    assert correction["reason"] == "Wrong box ticked on the tablet"
    assert correction["by"] == "MC-042"
    assert correction["at"].startswith("2027-04-04")
    assert current(client, tokens, body["probe_id"]) == probe


def test_an_admin_may_correct_a_probe_too(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, _ = phone
    response = correct(
        client,
        headers_as("afnor-quality", Role.ADMIN),
        body["probe_id"],
        answers={"PHO-PRO-10": False},
        reason="Checked against the call recording",
    )
    assert response.status_code == 201, response.text
    correction = response.json()["history"][1]
    assert correction["by"] == "afnor-quality"
    assert correction["reason"] == "Checked against the call recording"
    assert response.json()["answers"]["PHO-PRO-10"] is False


def test_two_corrections_make_revision_3_with_both_in_order(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, recorded = phone
    first = correct(
        client, MYSTERY_CITIZEN, body["probe_id"], answers={"PHO-PRO-03": "partial"}, reason="one"
    )
    assert first.status_code == 201, first.text
    second = correct(
        client, tokens.admin, body["probe_id"], answers={"PHO-PRO-03": "none"}, reason="two"
    )
    assert second.status_code == 201, second.text
    probe = second.json()
    assert probe["revision"] == 3
    assert probe["answers"]["PHO-PRO-03"] == "none"
    history = probe["history"]
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert [h["kind"] for h in history] == ["recorded", "correction", "correction"]
    assert [h["reason"] for h in history] == [None, "one", "two"]
    assert [h["by"] for h in history] == ["auditor", "MC-042", "admin"]
    assert [h["answers"].get("PHO-PRO-03") for h in history] == ["complete", "partial", "none"]
    # The answers as first recorded are kept, whole.
    assert history[0] == recorded["history"][0]
    assert history[0]["answers"] == body["answers"]
    assert current(client, tokens, body["probe_id"]) == probe


def test_a_measure_is_corrected_with_the_item_that_scores_it(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, _ = phone
    response = correct(
        client,
        MYSTERY_CITIZEN,
        body["probe_id"],
        answers={"PHO-ACC-02": 4},
        measures={"rings": 4},
        reason="Miscounted the rings",
    )
    assert response.status_code == 201, response.text
    probe = response.json()
    assert probe["measures"]["rings"] == 4
    assert probe["answers"]["PHO-ACC-02"] == 4
    assert probe["history"][1]["measures"] == {"rings": 4}
    assert probe["history"][1]["answers"] == {"PHO-ACC-02": 4}
    assert probe["history"][0]["measures"]["rings"] == 0


def test_an_email_reply_that_never_came_is_corrected_measures_and_items_together(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    body = probe_body(panel[0], Channel.EMAIL)
    record(client, tokens, body)
    response = correct(
        client,
        MYSTERY_CITIZEN,
        body["probe_id"],
        answers={"EML-PRO-01": False, "EML-PRO-02": "n/a"},
        measures={"answered": False, "reply_delay_hours": None},
        reason="The 'reply' was the automatic acknowledgement",
    )
    assert response.status_code == 201, response.text
    probe = response.json()
    assert probe["measures"]["answered"] is False
    assert probe["measures"].get("reply_delay_hours") is None
    assert probe["answers"]["EML-PRO-01"] is False


def test_the_original_submission_sent_again_after_a_correction_answers_the_current_probe(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, _ = phone
    corrected = correct(client, MYSTERY_CITIZEN, body["probe_id"], answers={"PHO-PRO-10": False})
    assert corrected.status_code == 201, corrected.text
    again = post_probe(client, tokens.auditor, body)
    assert again.status_code == 200, again.text
    assert again.json() == corrected.json()
    assert again.json()["revision"] == 2


def test_sending_the_corrected_answers_as_the_probe_again_is_a_conflict(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, _ = phone
    corrected = correct(client, MYSTERY_CITIZEN, body["probe_id"], answers={"PHO-PRO-10": False})
    assert corrected.status_code == 201, corrected.text
    rewritten = {**body, "answers": corrected.json()["answers"]}
    assert_refused(post_probe(client, tokens.auditor, rewritten), 409, "correction")
    assert current(client, tokens, body["probe_id"]) == corrected.json()


# --- refused corrections ------------------------------------------------------------------


BAD_CORRECTIONS: list[tuple[str, dict[str, Any], int, list[str]]] = [
    ("unknown item", {"answers": {"PHO-ZZZ-99": True}}, 422, ["answers.PHO-ZZZ-99"]),
    ("another channel", {"answers": {"EML-ACC-01": True}}, 422, ["answers.EML-ACC-01", "phone"]),
    ("unknown choice", {"answers": {"PHO-PRO-03": "excellent"}}, 422, ["PHO-PRO-03", "excellent"]),
    ("wrong type", {"answers": {"PHO-ACC-01": "yes"}}, 422, ["answers.PHO-ACC-01"]),
    (
        "out of range",
        {"answers": {"PHO-ACC-04": 5000}, "measures": {"waiting_seconds": 5000}},
        422,
        ["PHO-ACC-04", "out of range"],
    ),
    ("item disagrees with measure", {"answers": {"PHO-ACC-02": 4}}, 422, ["PHO-ACC-02", "rings"]),
    ("measure disagrees with item", {"measures": {"rings": 4}}, 422, ["PHO-ACC-02", "rings"]),
    ("measure of another channel", {"measures": {"reply_delay_days": 3}}, 422, ["reply_delay"]),
    ("unknown measure", {"measures": {"temperature": 3}}, 422, ["temperature"]),
    ("required measure removed", {"measures": {"answered_first_attempt": None}}, 422, ["answered"]),
    ("empty reason", {"answers": {"PHO-PRO-03": "partial"}, "reason": ""}, 422, ["reason"]),
    ("blank reason", {"answers": {"PHO-PRO-03": "partial"}, "reason": "   "}, 422, ["reason"]),
    ("nothing to correct", {}, 422, ["at least one"]),
    ("nothing changed", {"answers": {"PHO-ACC-01": True}}, 409, ["changes nothing"]),
    ("measure unchanged", {"measures": {"rings": 0}}, 409, ["changes nothing"]),
]


def test_a_bad_correction_is_refused_and_the_probe_is_unchanged(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, recorded = phone
    failures = []
    for case, correction, status, fragments in BAD_CORRECTIONS:
        response = correct(
            client,
            MYSTERY_CITIZEN,
            body["probe_id"],
            answers=correction.get("answers"),
            measures=correction.get("measures"),
            reason=correction.get("reason", "Wrong box ticked on the tablet"),
        )
        try:
            assert_refused(response, status, *fragments)
            assert current(client, tokens, body["probe_id"]) == recorded, "the probe changed"
        except AssertionError as failure:
            failures.append(f"{case}: {failure}")
    assert not failures, "\n".join(failures)


def test_correcting_an_unknown_probe_is_not_found(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    unknown = "5b0c4a43-0a0e-4a44-9d4c-2f8f2f7f3c11"
    response = correct(client, MYSTERY_CITIZEN, unknown, answers={"PHO-PRO-03": "partial"})
    assert_refused(response, 404, unknown)


def test_a_probe_is_corrected_under_its_own_edition_only(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, recorded = phone
    response = correct(
        client, MYSTERY_CITIZEN, body["probe_id"], answers={"PHO-PRO-03": "partial"}, year=2028
    )
    assert_refused(response, 404, "2028")
    assert current(client, tokens, body["probe_id"]) == recorded


def test_only_auditors_and_admins_correct_probes(
    client: TestClient,
    tokens: Tokens,
    panel: list[reg.StructureRegistered],
    phone: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    body, recorded = phone
    for headers, status in [
        ({}, 401),
        (tokens.frontend, 403),
        (tokens.finance, 403),
        (tokens.structure(panel[0].registration_id), 403),
    ]:
        response = correct(client, headers, body["probe_id"], answers={"PHO-PRO-03": "partial"})
        assert response.status_code == status, response.text
    assert current(client, tokens, body["probe_id"]) == recorded


def test_a_probe_is_never_edited_or_deleted_in_place(
    client: TestClient, tokens: Tokens, phone: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    body, recorded = phone
    changed = {**body, "answers": {**body["answers"], "PHO-PRO-03": "none"}}
    for method in ("PUT", "PATCH", "DELETE"):
        response = client.request(
            method,
            f"/editions/2027/probes/{body['probe_id']}",
            json=None if method == "DELETE" else changed,
            headers=tokens.admin,
        )
        assert response.status_code == 405, (method, response.text)
    assert current(client, tokens, body["probe_id"]) == recorded
