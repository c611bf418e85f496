"""Every refusal of POST /editions/{year}/probes: the status, a message naming the problem, and
nothing stored afterwards; and concurrent submissions never record more than the plan allows."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit_builders import (
    Feed,
    assert_refused,
    free_place_decided,
    get_plan,
    get_probe,
    post_probe,
    probe_body,
    registration_closed,
    site,
    structure_registered,
)
from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel


@dataclass(frozen=True)
class Cast:
    paid: reg.StructureRegistered
    visiting: reg.StructureRegistered
    granted: reg.StructureRegistered
    declined: reg.StructureRegistered


@pytest.fixture
def cast(feed: Feed, edition: reg.EditionOpened) -> Cast:
    """After the close: a paid structure, a paid one with the visit option and two sites, a free
    one granted its place (it asked for a visit, which free participation does not include),
    and a free one declined."""
    cast = Cast(
        paid=structure_registered(),
        visiting=structure_registered(
            physical_visit=True, sites=[site(), site(reg.SiteKind.ANNEX, "Annex town hall")]
        ),
        granted=structure_registered(participation=reg.Participation.FREE, physical_visit=True),
        declined=structure_registered(participation=reg.Participation.FREE),
    )
    granted, declined = cast.granted.registration_id, cast.declined.registration_id
    feed(
        cast.paid,
        cast.visiting,
        cast.granted,
        cast.declined,
        registration_closed(granted=[granted], declined=[declined]),
        free_place_decided(granted, reg.FreePlaceOutcome.GRANTED),
        free_place_decided(declined, reg.FreePlaceOutcome.DECLINED),
    )
    return cast


def assert_nothing_recorded(
    client: TestClient, tokens: Tokens, body: dict[str, Any], *, recorded: int = 0
) -> None:
    """The refused probe is not stored, its structure holds `recorded` probes, and (when none)
    the edition's referential is still open to changes."""
    assert get_probe(client, tokens.auditor, body["probe_id"]).status_code == 404
    listing = client.get(
        f"/editions/2027/registrations/{body['registration_id']}/probes", headers=tokens.auditor
    )
    if listing.status_code != 404:
        assert listing.status_code == 200, listing.text
        assert len(listing.json()) == recorded
    plan = get_plan(client, tokens.auditor, body["registration_id"])
    if plan.status_code == 200:
        assert plan.json()["probes_recorded"] == recorded
    if recorded == 0:
        edition = client.get("/editions/2027", headers=tokens.admin).json()
        assert edition["referential_frozen_at"] is None


def refuse(
    client: TestClient, tokens: Tokens, body: dict[str, Any], status: int, *fragments: str
) -> dict[str, Any]:
    refusal = assert_refused(post_probe(client, tokens.auditor, body), status, *fragments)
    assert_nothing_recorded(client, tokens, body)
    return refusal


def with_answers(body: dict[str, Any], **answers: Any) -> dict[str, Any]:
    return {**body, "answers": {**body["answers"], **answers}}


# --- who and what is audited --------------------------------------------------------------


def test_an_unknown_registration_is_not_found(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid, registration_id=str(uuid.uuid4()))
    refuse(client, tokens, body, 404, body["registration_id"], "unknown")


def test_a_free_registration_still_awaiting_its_place_is_not_audited(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    awaiting = structure_registered(participation=reg.Participation.FREE)
    feed(awaiting)
    body = probe_body(awaiting)
    refuse(client, tokens, body, 409, "not in the panel")


def test_a_paid_registration_before_the_close_has_no_plan_to_fill(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    paid = structure_registered()
    feed(paid)
    refuse(client, tokens, probe_body(paid), 409, "no audit plan")


def test_a_declined_free_registration_is_not_audited(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    refuse(client, tokens, probe_body(cast.declined), 409, "not in the panel")


def test_a_visit_needs_the_visit_option(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    refuse(client, tokens, probe_body(cast.paid, Channel.VISIT), 422, "visit")


def test_a_free_participant_gets_no_visit_even_if_it_asked_for_one(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    refuse(client, tokens, probe_body(cast.granted, Channel.VISIT), 422, "visit")


def test_a_site_of_another_registration_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    other_site = str(cast.visiting.sites[1].site_id)
    body = probe_body(cast.paid, site_id=other_site)
    refuse(client, tokens, body, 422, "site_id", other_site)


def test_an_unknown_edition_is_not_found(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    body = probe_body(cast.paid)
    assert_refused(post_probe(client, tokens.auditor, body, year=2031), 404, "2031")
    assert_nothing_recorded(client, tokens, body)


# --- answers ------------------------------------------------------------------------------


def test_an_unknown_item_code_is_refused(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    body = with_answers(probe_body(cast.paid), **{"PHO-ZZZ-99": True})
    refuse(client, tokens, body, 422, "answers.PHO-ZZZ-99", "unknown item")


def test_an_item_of_another_channel_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = with_answers(probe_body(cast.paid), **{"EML-ACC-01": True})
    refuse(client, tokens, body, 422, "answers.EML-ACC-01", "email")


def test_a_value_of_the_wrong_type_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    for code, value in [("PHO-ACC-01", "yes"), ("PHO-ACC-01", 1), ("PHO-PRO-03", True)]:
        body = with_answers(probe_body(cast.paid), **{code: value})
        refuse(client, tokens, body, 422, f"answers.{code}")


def test_a_bool_is_not_a_measured_value(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    body = probe_body(cast.paid)
    body["answers"]["PHO-ACC-04"] = True
    body["measures"].pop("waiting_seconds")
    refuse(client, tokens, body, 422, "answers.PHO-ACC-04", "seconds")


def test_a_measured_item_out_of_its_range_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid)
    body["answers"]["PHO-ACC-04"] = 2000  # the item scores 0 to 1800 seconds
    body["measures"]["waiting_seconds"] = 2000
    refuse(client, tokens, body, 422, "answers.PHO-ACC-04", "out of range")


def test_a_measure_out_of_its_range_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid)
    body["measures"]["rings"] = 101
    refuse(client, tokens, body, 422, "measures.rings")


def test_an_unknown_choice_is_refused(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    body = with_answers(probe_body(cast.paid), **{"PHO-PRO-03": "excellent"})
    refuse(client, tokens, body, 422, "answers.PHO-PRO-03", "excellent")


def test_missing_items_are_refused_by_code(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    body = probe_body(cast.paid)
    del body["answers"]["PHO-INF-03"], body["answers"]["PHO-PRO-10"]
    refuse(client, tokens, body, 422, "missing answers", "PHO-INF-03", "PHO-PRO-10", "n/a")


def test_every_problem_is_named_in_one_refusal(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = with_answers(probe_body(cast.paid), **{"PHO-ZZZ-99": True, "PHO-PRO-03": "excellent"})
    refusal = refuse(client, tokens, body, 422)
    assert {"answers.PHO-ZZZ-99", "answers.PHO-PRO-03"} <= {e["field"] for e in refusal["errors"]}


# --- measures -----------------------------------------------------------------------------


def test_a_missing_required_measure_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid)
    del body["measures"]["answered_first_attempt"]
    refuse(client, tokens, body, 422, "measures.answered_first_attempt")


def test_a_measure_of_another_channel_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid)
    body["measures"]["reply_delay_days"] = 3
    refuse(client, tokens, body, 422, "measures.reply_delay_days")


def test_a_reply_delay_without_a_reply_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid, Channel.EMAIL)
    body["measures"] = {"answered": False, "reply_delay_hours": 5}
    body["answers"]["EML-PRO-01"] = False
    refuse(client, tokens, body, 422, "measures.reply_delay_hours", "answered is false")


def test_an_item_that_disagrees_with_its_measure_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid)
    body["measures"]["rings"] = 4  # but the rings item says 0
    refuse(client, tokens, body, 422, "answers.PHO-ACC-02", "rings")


# --- when ---------------------------------------------------------------------------------


def test_a_probe_outside_the_audit_window_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    for performed_at in (
        datetime(2027, 3, 31, 12, tzinfo=UTC),
        datetime(2027, 6, 1, 9, tzinfo=UTC),
        datetime(2026, 4, 10, 9, tzinfo=UTC),
    ):
        body = probe_body(cast.paid, performed_at=performed_at)
        refuse(client, tokens, body, 422, "performed_at", "outside the audit window", "2027-04-01")


def test_the_first_and_last_days_of_the_window_are_inside_it(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    paris = timezone(timedelta(hours=2))
    for day in (datetime(2027, 4, 1, 9, tzinfo=paris), datetime(2027, 5, 31, 18, tzinfo=paris)):
        response = post_probe(client, tokens.auditor, probe_body(cast.paid, performed_at=day))
        assert response.status_code == 201, response.text


def test_a_time_without_a_timezone_is_refused(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid, performed_at=datetime(2027, 4, 10, 10))
    assert body["performed_at"] == "2027-04-10T10:00:00"
    refuse(client, tokens, body, 422, "performed_at", "timezone")


# --- the plan -----------------------------------------------------------------------------


def test_no_more_probes_of_a_channel_than_the_plan_holds(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    for _ in range(4):
        response = post_probe(client, tokens.auditor, probe_body(cast.paid))
        assert response.status_code == 201, response.text
    fifth = probe_body(cast.paid)
    assert_refused(post_probe(client, tokens.auditor, fifth), 409, "4 phone probe", "no more")
    assert_nothing_recorded(client, tokens, fifth, recorded=4)
    # The other channels still have room.
    email = post_probe(client, tokens.auditor, probe_body(cast.paid, Channel.EMAIL))
    assert email.status_code == 201, email.text


# --- who may record -----------------------------------------------------------------------


def test_recording_a_probe_needs_a_token(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    body = probe_body(cast.paid)
    assert_refused(client.post("/editions/2027/probes", json=body), 401, "bearer token")
    assert_nothing_recorded(client, tokens, body)


def test_only_auditors_record_probes(client: TestClient, tokens: Tokens, cast: Cast) -> None:
    for headers in (
        tokens.admin,
        tokens.frontend,
        tokens.finance,
        tokens.structure(cast.paid.registration_id),
    ):
        body = probe_body(cast.paid)
        response = client.post("/editions/2027/probes", json=body, headers=headers)
        assert_refused(response, 403, "auditor")
        assert_nothing_recorded(client, tokens, body)


# --- concurrency --------------------------------------------------------------------------


def test_the_same_probe_sent_concurrently_is_recorded_once(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    body = probe_body(cast.paid)
    headers = tokens.auditor
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: post_probe(client, headers, body), range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [
        r.text for r in responses
    ]
    assert all(r.json() == responses[0].json() for r in responses)
    plan = get_plan(client, headers, cast.paid.registration_id).json()
    assert plan["probes_recorded"] == 1
    assert [p["probe_id"] for p in plan["probes"] if p["probe_id"]] == [body["probe_id"]]


def test_concurrent_probes_on_one_structure_never_exceed_its_plan(
    client: TestClient, tokens: Tokens, cast: Cast
) -> None:
    bodies = [probe_body(cast.paid) for _ in range(6)]
    headers = tokens.auditor
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda b: post_probe(client, headers, b), bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 4 + [409] * 2, [r.text for r in responses]
    created = {r.json()["probe_id"] for r in responses if r.status_code == 201}
    plan = get_plan(client, headers, cast.paid.registration_id).json()
    assert plan["probes_recorded"] == 4
    phone_slots = [p for p in plan["probes"] if p["channel"] == "phone"]
    assert {p["probe_id"] for p in phone_slots} == created
    assert sorted(r.json()["slot"] for r in responses if r.status_code == 201) == sorted(
        p["slot"] for p in phone_slots
    )
