"""An edition's referential (versioned, frozen by its first probe) and the structures' audit
plans (issued at the close from the edition's settings, reproducible, redelivery-proof)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from audit_builders import (
    WINDOW_END,
    WINDOW_START,
    Feed,
    answers_for,
    assert_refused,
    free_place_decided,
    get_plan,
    post_probe,
    probe_body,
    referential_body,
    registration_closed,
    site,
    site_added,
    structure_registered,
    switched_to_paid,
)
from baro_audit_ingest import application as application_module
from baro_audit_ingest.planning import plan_probes
from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel

DEFAULT_MIX = {"phone": 4, "email": 3, "mail": 2, "website": 2, "social": 2}
NEW_ITEM = {
    "code": "PHO-ACC-99",
    "label": "The voice menu offers to speak to an agent",
    "channel": "phone",
    "step": "access",
    "determinant": "D04",
    "answer": {"type": "yes_no"},
}


def get_referential(
    client: TestClient, tokens: Tokens, version: int | None = None
) -> dict[str, Any]:
    params = {} if version is None else {"version": version}
    response = client.get("/editions/2027/referential", params=params, headers=tokens.auditor)
    assert response.status_code == 200, response.text
    return dict(response.json())


def put_referential(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Response:
    return client.put("/editions/2027/referential", json=body, headers=headers)


def version_2_body() -> dict[str, Any]:
    """The default referential with one phone item more and one phone item less."""
    body = referential_body("baro-2027")
    body["items"] = [i for i in body["items"] if i["code"] != "PHO-ACC-08"] + [NEW_ITEM]
    return body


def plan_json(client: TestClient, tokens: Tokens, registration_id: object) -> dict[str, Any]:
    response = get_plan(client, tokens.auditor, registration_id)
    assert response.status_code == 200, response.text
    return dict(response.json())


def mix_of(plan: dict[str, Any]) -> Counter[str]:
    return Counter(p["channel"] for p in plan["probes"])


# --- the referential ----------------------------------------------------------------------


def test_an_opened_edition_has_the_default_referential_as_version_1(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    referential = get_referential(client, tokens)
    assert referential["edition"] == 2027
    assert referential["version"] == referential["latest_version"] == 1
    assert referential["frozen"] is False
    assert referential["frozen_at"] is None
    assert referential["name"] == "baro-default"
    assert len(referential["items"]) == 133
    assert len(referential["determinants"]) == 20


def test_any_caller_reads_the_referential(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    for headers in (tokens.frontend, tokens.admin, tokens.structure(uuid.uuid4())):
        response = client.get("/editions/2027/referential", headers=headers)
        assert response.status_code == 200, response.text
    assert client.get("/editions/2027/referential").status_code == 401


def test_an_unknown_edition_has_no_referential(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    response = client.get("/editions/2031/referential", headers=tokens.auditor)
    assert_refused(response, 404, "2031")


def test_an_admin_publishes_version_2_and_version_1_stays_readable(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    response = put_referential(client, tokens.admin, version_2_body())
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    latest = get_referential(client, tokens)
    assert latest["version"] == latest["latest_version"] == 2
    assert latest["name"] == "baro-2027"
    codes = {i["code"] for i in latest["items"]}
    assert "PHO-ACC-99" in codes
    assert "PHO-ACC-08" not in codes
    old = get_referential(client, tokens, version=1)
    assert old["version"] == 1
    assert old["latest_version"] == 2
    assert old["name"] == "baro-default"
    assert len(old["items"]) == 133
    assert "PHO-ACC-08" in {i["code"] for i in old["items"]}
    missing = client.get("/editions/2027/referential?version=3", headers=tokens.auditor)
    assert_refused(missing, 404, "1 to 2")


def test_only_an_admin_publishes_a_referential(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    for headers in (tokens.auditor, tokens.frontend, tokens.finance):
        assert_refused(put_referential(client, headers, version_2_body()), 403, "admin")
    assert_refused(put_referential(client, {}, version_2_body()), 401, "bearer token")
    assert get_referential(client, tokens)["latest_version"] == 1


def invalid(change: str) -> dict[str, Any]:
    body = referential_body()
    if change == "unknown-determinant":
        body["items"][0]["determinant"] = "D99"
    elif change == "duplicate-item":
        body["items"].append(dict(body["items"][0]))
    elif change == "duplicate-determinant":
        body["determinants"][1] = dict(body["determinants"][0])
    elif change == "decreasing-thresholds":
        rings = next(i for i in body["items"] if i["code"] == "PHO-ACC-02")
        rings["answer"]["thresholds"].reverse()
    elif change == "no-mail-item":
        body["items"] = [i for i in body["items"] if i["channel"] != "mail"]
    elif change == "bad-item-code":
        body["items"][0]["code"] = "phone-1"
    return body


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ("unknown-determinant", ["PHO-ACC-01", "unknown determinant D99"]),
        ("duplicate-item", ["PHO-ACC-01", "listed 2 times"]),
        ("duplicate-determinant", ["D01", "listed 2 times"]),
        ("decreasing-thresholds", ["PHO-ACC-02", "increasing"]),
        ("no-mail-item", ["mail"]),
        ("bad-item-code", ["items.0.code"]),
    ],
)
def test_an_invalid_referential_is_refused_and_the_version_is_unchanged(
    client: TestClient,
    tokens: Tokens,
    edition: reg.EditionOpened,
    change: str,
    fragments: list[str],
) -> None:
    assert_refused(put_referential(client, tokens.admin, invalid(change)), 422, *fragments)
    latest = get_referential(client, tokens)
    assert latest["latest_version"] == 1
    assert latest["name"] == "baro-default"


def test_the_first_probe_freezes_the_referential(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    recorded = post_probe(client, tokens.auditor, probe_body(panel[0]))
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["referential_version"] == 1
    referential = get_referential(client, tokens)
    assert referential["frozen"] is True
    assert referential["frozen_at"] is not None
    assert_refused(put_referential(client, tokens.admin, version_2_body()), 409, "frozen")
    assert get_referential(client, tokens)["latest_version"] == 1
    # Later probes keep using that version.
    later = post_probe(client, tokens.auditor, probe_body(panel[1], Channel.EMAIL))
    assert later.status_code == 201, later.text
    assert later.json()["referential_version"] == 1


def test_a_probe_under_version_2_is_checked_against_version_2(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    published = put_referential(client, tokens.admin, version_2_body())
    assert published.status_code == 200, published.text
    # Answers to version 1's items: PHO-ACC-08 is gone, PHO-ACC-99 is missing.
    old = probe_body(panel[0])
    assert_refused(post_probe(client, tokens.auditor, old), 422, "PHO-ACC-08", "PHO-ACC-99")
    answers = {c: v for c, v in answers_for(Channel.PHONE).items() if c != "PHO-ACC-08"}
    body = probe_body(panel[0], answers={**answers, "PHO-ACC-99": False})
    response = post_probe(client, tokens.auditor, body)
    assert response.status_code == 201, response.text
    assert response.json()["referential_version"] == 2
    referential = get_referential(client, tokens)
    assert referential["version"] == 2
    assert referential["frozen"] is True


# --- plans --------------------------------------------------------------------------------


def test_a_paid_structure_gets_13_probes_in_the_default_mix_at_the_close(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    registration = panel[0]
    plan = plan_json(client, tokens, registration.registration_id)
    assert plan["registration_id"] == str(registration.registration_id)
    assert plan["participation"] == "paid"
    assert plan["probes_planned"] == 13
    assert plan["probes_recorded"] == 0
    assert plan["channel_mix"] == DEFAULT_MIX
    assert mix_of(plan) == DEFAULT_MIX
    assert [p["slot"] for p in plan["probes"]] == list(range(1, 14))
    dates = [date.fromisoformat(p["planned_on"]) for p in plan["probes"]]
    assert all(WINDOW_START <= d <= WINDOW_END for d in dates)
    assert dates == sorted(dates)
    assert max(dates) - min(dates) >= (WINDOW_END - WINDOW_START) * 3 / 4  # spread out
    assert {p["site_id"] for p in plan["probes"]} == {str(registration.sites[0].site_id)}
    assert {p["site_name"] for p in plan["probes"]} == {"Town hall"}
    assert len({p["auditor_id"] for p in plan["probes"]}) == 13
    assert all(p["probe_id"] is None for p in plan["probes"])
    assert (
        client.get(
            f"/editions/2027/plans/{registration.registration_id}", headers=tokens.admin
        ).json()
        == plan
    )


def test_the_visit_option_adds_a_visit_and_every_site_is_audited(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    registration = panel[1]
    main, annex = (str(s.site_id) for s in registration.sites)
    plan = plan_json(client, tokens, registration.registration_id)
    assert plan["probes_planned"] == 14
    assert mix_of(plan) == {**DEFAULT_MIX, "visit": 1}
    wide = {p["site_id"] for p in plan["probes"] if p["channel"] in {"website", "social"}}
    assert wide == {main}
    assert {p["site_id"] for p in plan["probes"]} == {main, annex}
    names = {p["site_id"]: p["site_name"] for p in plan["probes"]}
    assert names == {main: "Town hall", annex: "Annex town hall"}


def test_a_plan_is_recomputed_exactly_from_its_seed(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    registration = panel[1]
    plan = plan_json(client, tokens, registration.registration_id)
    edition = client.get("/editions/2027", headers=tokens.admin).json()
    again = plan_probes(
        seed=plan["seed"],
        sites=[
            {"site_id": s.site_id, "name": s.name, "kind": s.kind.value} for s in registration.sites
        ],
        physical_visit=True,
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        channel_mix={Channel(c): n for c, n in plan["channel_mix"].items()},
        auditors=edition["auditors"],
    )
    assert [
        (p["slot"], p["channel"], p["site_id"], p["planned_on"], p["auditor_id"])
        for p in plan["probes"]
    ] == [
        (p["slot"], p["channel"], str(p["site_id"]), p["planned_on"].isoformat(), p["auditor_id"])
        for p in again
    ]


def test_two_structures_get_different_plans(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    first, second = (plan_json(client, tokens, r.registration_id) for r in panel)
    assert first["seed"] != second["seed"]
    assert [p["planned_on"] for p in first["probes"]] != [
        p["planned_on"] for p in second["probes"]
    ] or [p["channel"] for p in first["probes"]] != [p["channel"] for p in second["probes"]]


def test_there_is_no_plan_before_the_close(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    paid = structure_registered()
    feed(paid)
    assert_refused(get_plan(client, tokens.auditor, paid.registration_id), 409, "no audit plan")


def test_an_unknown_registration_has_no_plan(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    unknown = uuid.uuid4()
    assert_refused(get_plan(client, tokens.auditor, unknown), 404, str(unknown))


def test_plans_are_for_auditors_and_admins(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    rid = panel[0].registration_id
    for headers in (tokens.frontend, tokens.finance, tokens.structure(rid)):
        assert_refused(get_plan(client, headers, rid), 403, "admin")


def test_a_declined_free_registration_has_no_plan(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    free = structure_registered(participation=reg.Participation.FREE)
    rid = free.registration_id
    feed(
        free,
        registration_closed(declined=[rid]),
        free_place_decided(rid, reg.FreePlaceOutcome.DECLINED),
    )
    assert_refused(get_plan(client, tokens.auditor, rid), 409, "not in the panel")


@pytest.mark.parametrize("decided_first", [True, False])
def test_a_granted_free_registration_gets_13_probes_and_no_visit(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened, decided_first: bool
) -> None:
    free = structure_registered(participation=reg.Participation.FREE, physical_visit=True)
    rid = free.registration_id
    decided = free_place_decided(rid, reg.FreePlaceOutcome.GRANTED)
    closed = registration_closed(granted=[rid])
    feed(free, *((decided, closed) if decided_first else (closed, decided)))
    plan = plan_json(client, tokens, rid)
    assert plan["participation"] == "free"
    assert plan["probes_planned"] == 13
    assert mix_of(plan) == DEFAULT_MIX


def test_a_declined_registration_switching_to_paid_after_the_close_gets_its_plan(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    free = structure_registered(participation=reg.Participation.FREE)
    rid = free.registration_id
    feed(
        free,
        registration_closed(declined=[rid]),
        free_place_decided(rid, reg.FreePlaceOutcome.DECLINED),
    )
    assert get_plan(client, tokens.auditor, rid).status_code == 409
    feed(switched_to_paid(rid, physical_visit=True))
    plan = plan_json(client, tokens, rid)
    assert plan["participation"] == "paid"
    assert plan["probes_planned"] == 14
    assert mix_of(plan) == {**DEFAULT_MIX, "visit": 1}
    recorded = post_probe(client, tokens.auditor, probe_body(free, Channel.VISIT))
    assert recorded.status_code == 201, recorded.text


def test_a_site_added_before_the_close_is_in_the_plan(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    paid = structure_registered()
    library = site(reg.SiteKind.ANNEX, "Library")
    feed(paid, site_added(paid.registration_id, library), registration_closed())
    plan = plan_json(client, tokens, paid.registration_id)
    assert str(library.site_id) in {p["site_id"] for p in plan["probes"]}


def test_probes_are_recorded_for_a_structure_changed_after_its_plan(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    """The probe writer keeps each structure as its plan was saved; one changed since (a site
    added after the close) is read afresh, and its probes are recorded all the same."""
    first, changed = structure_registered(), structure_registered()
    feed(first, changed, registration_closed())
    feed(site_added(changed.registration_id, site(reg.SiteKind.ANNEX, "Library")))
    # The edition's first probe is recorded on its own (it freezes the referential).
    assert post_probe(client, tokens.auditor, probe_body(first)).status_code == 201
    for _ in range(2):
        recorded = post_probe(client, tokens.auditor, probe_body(changed))
        assert recorded.status_code == 201, recorded.text
    listed = client.get(
        f"/editions/2027/registrations/{changed.registration_id}/probes", headers=tokens.admin
    )
    assert listed.status_code == 200, listed.text
    assert len(listed.json()) == 2


# --- plan settings ------------------------------------------------------------------------

SETTINGS = {
    "channel_mix": {"phone": 5, "email": 2, "mail": 2, "website": 2, "social": 2},
    "seed": "afnor-2027",
    "auditors": [f"MC-{n:03d}" for n in range(100, 120)],
}


def put_settings(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> Response:
    return client.put("/editions/2027/plan-settings", json=body, headers=headers)


def test_plan_settings_changed_before_the_close_shape_the_plans(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    paid = structure_registered(physical_visit=True)
    feed(paid)
    response = put_settings(client, tokens.admin, SETTINGS)
    assert response.status_code == 200, response.text
    assert response.json()["channel_mix"] == SETTINGS["channel_mix"]
    feed(registration_closed())
    plan = plan_json(client, tokens, paid.registration_id)
    assert plan["channel_mix"] == SETTINGS["channel_mix"]
    assert mix_of(plan) == {**SETTINGS["channel_mix"], "visit": 1}
    assert plan["probes_planned"] == 14
    assert plan["seed"].startswith("afnor-2027")
    assert {p["auditor_id"] for p in plan["probes"]} <= set(SETTINGS["auditors"])


def test_plan_settings_cannot_change_after_the_close(
    client: TestClient, tokens: Tokens, panel: list[reg.StructureRegistered]
) -> None:
    before = client.get("/editions/2027", headers=tokens.admin).json()
    assert_refused(put_settings(client, tokens.admin, SETTINGS), 409, "issued")
    assert client.get("/editions/2027", headers=tokens.admin).json() == before
    assert mix_of(plan_json(client, tokens, panel[0].registration_id)) == DEFAULT_MIX


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"channel_mix": {**SETTINGS["channel_mix"], "visit": 1}}, ["channel_mix.visit"]),
        ({"channel_mix": {"phone": -1, "email": 14}}, ["channel_mix.phone"]),
        ({"channel_mix": {"phone": 0}}, ["channel_mix"]),
        ({"auditors": ["MC-001", "MC-001"]}, ["auditors"]),
        ({"channel_mix": {"fax": 3}}, ["channel_mix"]),
    ],
    ids=["visit", "negative", "empty", "duplicate-auditor", "unknown-channel"],
)
def test_invalid_plan_settings_are_refused(
    client: TestClient,
    tokens: Tokens,
    edition: reg.EditionOpened,
    change: dict[str, Any],
    fragments: list[str],
) -> None:
    before = client.get("/editions/2027", headers=tokens.admin).json()
    assert_refused(put_settings(client, tokens.admin, {**SETTINGS, **change}), 422, *fragments)
    assert client.get("/editions/2027", headers=tokens.admin).json() == before


def test_only_an_admin_changes_plan_settings(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    assert_refused(put_settings(client, tokens.auditor, SETTINGS), 403, "admin")
    edition_now = client.get("/editions/2027", headers=tokens.admin).json()
    assert edition_now["channel_mix"] == DEFAULT_MIX


# --- redelivery ---------------------------------------------------------------------------


def test_every_registration_event_delivered_twice_changes_nothing(
    client: TestClient, tokens: Tokens, feed: Feed, edition: reg.EditionOpened
) -> None:
    paid = structure_registered(physical_visit=True)
    granted = structure_registered(participation=reg.Participation.FREE)
    declined = structure_registered(participation=reg.Participation.FREE)
    library = site(reg.SiteKind.ANNEX, "Library")
    events = [
        paid,
        granted,
        declined,
        site_added(paid.registration_id, library),
        registration_closed(granted=[granted.registration_id], declined=[declined.registration_id]),
        free_place_decided(granted.registration_id, reg.FreePlaceOutcome.GRANTED),
        free_place_decided(declined.registration_id, reg.FreePlaceOutcome.DECLINED),
        switched_to_paid(declined.registration_id),
    ]
    structures = (paid, granted, declined)
    for event in events:  # each redelivered at once
        feed(event, event)
    plans = [plan_json(client, tokens, s.registration_id) for s in structures]
    edition_state = client.get("/editions/2027", headers=tokens.admin).json()
    assert edition_state["structures"] == 3
    assert [p["probes_planned"] for p in plans] == [14, 13, 13]
    assert len({p["site_id"] for p in plans[0]["probes"]}) == 2

    again = feed(edition, *events)  # the whole stream redelivered later
    assert not any(again), again
    assert [plan_json(client, tokens, s.registration_id) for s in structures] == plans
    assert client.get("/editions/2027", headers=tokens.admin).json() == edition_state
    assert get_referential(client, tokens)["latest_version"] == 1


def test_a_close_plans_its_panel_chunk_by_chunk_and_once_however_often_it_arrives(
    client: TestClient,
    tokens: Tokens,
    feed: Feed,
    edition: reg.EditionOpened,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(application_module, "PLAN_CHUNK", 2)
    paid = [structure_registered() for _ in range(5)]
    free = structure_registered(participation=reg.Participation.FREE)
    closed = registration_closed()  # counts only: the granted place follows as its own event
    granted = free_place_decided(free.registration_id, reg.FreePlaceOutcome.GRANTED)
    results = feed(*paid, free, closed, granted, closed)
    assert results[-3:] == [5, True, 0], "5 paid at the close, the free one with its place"
    plans = {p.registration_id: plan_json(client, tokens, p.registration_id) for p in paid}
    assert plan_json(client, tokens, free.registration_id)["probes_planned"] == 13
    feed(closed)
    assert plans == {p.registration_id: plan_json(client, tokens, p.registration_id) for p in paid}
