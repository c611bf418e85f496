"""Closing an edition through the HTTP API: free-place allocation, then switching to paid."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from unittest.mock import ANY

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from baro_chassis.testing import FakeClock, Tokens
from registration_builders import EDITION, assert_refused, registration_body, snapshot

JAN_2026 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
JAN_2027 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


# --- helpers ------------------------------------------------------------------------------


def open_edition(client: TestClient, tokens: Tokens, year: int, free_places: int) -> None:
    body = {
        "year": year,
        "registration_deadline": f"{year}-03-15",
        "audit_window_start": f"{year}-04-01",
        "audit_window_end": f"{year}-05-31",
        "free_places": free_places,
    }
    response = client.post("/editions", json=body, headers=tokens.admin)
    assert response.status_code == 201, response.text


def register(
    client: TestClient, tokens: Tokens, number: int, *, year: int = 2027, **overrides: Any
) -> dict[str, Any]:
    response = client.post(
        f"/editions/{year}/registrations",
        json=registration_body(number, **overrides),
        headers=tokens.frontend,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def close(client: TestClient, tokens: Tokens, year: int = 2027) -> dict[str, Any]:
    response = client.post(f"/editions/{year}/close", headers=tokens.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def status_of(client: TestClient, tokens: Tokens, rid: str, year: int = 2027) -> dict[str, Any]:
    response = client.get(f"/editions/{year}/registrations/{rid}", headers=tokens.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def switch(client: TestClient, rid: str, headers: dict[str, str], **body: Any) -> Response:
    return client.post(
        f"/editions/2027/registrations/{rid}/switch-to-paid", json=body, headers=headers
    )


def ids(registrations: list[dict[str, Any]]) -> list[str]:
    return [r["registration_id"] for r in registrations]


# --- allocation ---------------------------------------------------------------------------


def test_close_grants_the_free_places_by_registration_time_and_declines_the_rest(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    paid = register(client, tokens, 1, participation="paid")
    free = []
    for number in (2, 3, 4):
        clock.advance(hours=1)
        free.append(register(client, tokens, number, participation="free"))
    clock.advance(days=30)

    closed = close(client, tokens)

    assert closed["edition"] == {
        **EDITION,
        "status": "closed",
        "registrations": 4,
        "closed_at": closed["edition"]["closed_at"],
        "granted": 2,
        "declined": 1,
        "panel_size": 3,
    }
    assert datetime.fromisoformat(closed["edition"]["closed_at"]) == clock.now
    assert [
        (a["registration_id"], a["siret"], a["name"], a["rank"], a["outcome"])
        for a in closed["allocations"]
    ] == [
        (r["registration_id"], r["siret"], r["name"], rank, outcome)
        for r, rank, outcome in zip(
            free, [1, 2, 3], ["granted", "granted", "declined"], strict=True
        )
    ]
    assert all(a["never_participated"] for a in closed["allocations"])
    assert client.get("/editions/2027", headers=tokens.admin).json() == closed["edition"]

    assert status_of(client, tokens, paid["registration_id"])["status"] == "in_panel"
    assert status_of(client, tokens, paid["registration_id"])["free_place"] is None
    first = status_of(client, tokens, free[0]["registration_id"])
    assert first["status"] == "in_panel"
    assert first["free_place"] == {"outcome": "granted", "rank": 1, "never_participated": True}
    last = status_of(client, tokens, free[2]["registration_id"])
    assert last["status"] == "declined"
    assert last["free_place"] == {"outcome": "declined", "rank": 3, "never_participated": True}

    listing = "/editions/2027/registrations"
    in_panel = client.get(f"{listing}?status=in_panel", headers=tokens.admin).json()
    assert ids(in_panel) == [paid["registration_id"], *ids(free[:2])]
    declined = client.get(f"{listing}?status=declined", headers=tokens.finance).json()
    assert ids(declined) == [free[2]["registration_id"]]
    awaiting = client.get(f"{listing}?status=awaiting_free_place", headers=tokens.admin).json()
    assert awaiting == []


def test_registrations_at_the_same_instant_still_get_exactly_the_free_places(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    free = [register(client, tokens, number, participation="free") for number in (1, 2, 3)]
    closed = close(client, tokens)
    assert sorted(a["rank"] for a in closed["allocations"]) == [1, 2, 3]
    assert [a["outcome"] for a in closed["allocations"]] == ["granted", "granted", "declined"]
    assert sorted(ids(closed["allocations"])) == sorted(ids(free))
    statuses = sorted(status_of(client, tokens, r["registration_id"])["status"] for r in free)
    assert statuses == ["declined", "in_panel", "in_panel"]


def test_with_zero_free_places_every_free_registration_is_declined(
    client: TestClient, tokens: Tokens, clock: FakeClock
) -> None:
    open_edition(client, tokens, 2027, free_places=0)
    paid = register(client, tokens, 1, participation="paid")
    free = [register(client, tokens, number, participation="free") for number in (2, 3)]
    closed = close(client, tokens)
    assert [a["outcome"] for a in closed["allocations"]] == ["declined", "declined"]
    assert closed["edition"]["granted"] == 0
    assert closed["edition"]["declined"] == 2
    assert closed["edition"]["panel_size"] == 1
    assert status_of(client, tokens, paid["registration_id"])["status"] == "in_panel"
    for registration in free:
        assert status_of(client, tokens, registration["registration_id"])["status"] == "declined"


def test_with_more_free_places_than_candidates_every_one_is_granted(
    client: TestClient, tokens: Tokens
) -> None:
    open_edition(client, tokens, 2027, free_places=10)
    free = [register(client, tokens, number, participation="free") for number in (1, 2)]
    closed = close(client, tokens)
    assert [a["outcome"] for a in closed["allocations"]] == ["granted", "granted"]
    assert closed["edition"]["granted"] == 2
    assert closed["edition"]["declined"] == 0
    assert closed["edition"]["panel_size"] == 2
    for registration in free:
        assert status_of(client, tokens, registration["registration_id"])["status"] == "in_panel"


def test_closing_an_empty_edition_gives_an_empty_panel(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    closed = close(client, tokens)
    assert closed["allocations"] == []
    assert closed["edition"]["status"] == "closed"
    assert closed["edition"]["panel_size"] == 0


def test_closing_again_answers_the_first_close_and_changes_nothing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    # A retry of the close (its answer lost, or a 5xx after it was recorded) must not
    # look like a failure: closing has no content that could differ, so it is the same close.
    for number in (1, 2, 3):
        register(client, tokens, number, participation="free")
    first = close(client, tokens)
    before = snapshot(client, tokens)
    clock.advance(days=1)
    assert close(client, tokens) == first
    assert snapshot(client, tokens) == before
    assert [a["outcome"] for a in first["allocations"]] == ["granted", "granted", "declined"]


@pytest.mark.parametrize(
    ("history", "veteran_outcome", "veteran_never_participated"),
    [
        ({"participation": "free", "free_places": 1}, "declined", False),  # granted in 2026
        ({"participation": "paid", "free_places": 0}, "declined", False),  # paid in 2026
        ({"participation": "free", "free_places": 0}, "granted", True),  # declined in 2026
    ],
    ids=["granted-in-2026", "paid-in-2026", "only-declined-in-2026"],
)
def test_structures_that_never_took_part_come_first_across_editions(
    client: TestClient,
    tokens: Tokens,
    clock: FakeClock,
    history: dict[str, Any],
    veteran_outcome: str,
    veteran_never_participated: bool,
) -> None:
    clock.now = JAN_2026
    open_edition(client, tokens, 2026, free_places=history["free_places"])
    past = register(client, tokens, 1, year=2026, participation=history["participation"])
    close(client, tokens, 2026)
    past_status = status_of(client, tokens, past["registration_id"], 2026)["status"]
    assert past_status == ("declined" if veteran_never_participated else "in_panel")

    clock.now = JAN_2027
    open_edition(client, tokens, 2027, free_places=1)
    veteran = register(client, tokens, 1, participation="free")  # same SIRET, first in time
    clock.advance(days=10)
    newcomer = register(client, tokens, 2, participation="free")

    closed = close(client, tokens)
    outcomes = {a["registration_id"]: a for a in closed["allocations"]}
    assert outcomes[veteran["registration_id"]]["outcome"] == veteran_outcome
    assert outcomes[veteran["registration_id"]]["never_participated"] is veteran_never_participated
    newcomer_outcome = "declined" if veteran_outcome == "granted" else "granted"
    assert outcomes[newcomer["registration_id"]]["outcome"] == newcomer_outcome
    assert outcomes[newcomer["registration_id"]]["never_participated"] is True
    assert closed["allocations"][0]["outcome"] == "granted"
    veteran_now = status_of(client, tokens, veteran["registration_id"])
    assert veteran_now["status"] == ("in_panel" if veteran_outcome == "granted" else "declined")


# --- switching to paid --------------------------------------------------------------------


@pytest.fixture
def after_close(client: TestClient, tokens: Tokens, clock: FakeClock) -> dict[str, Any]:
    """Edition 2027 with one free place, closed: one paid, one granted, one declined."""
    open_edition(client, tokens, 2027, free_places=1)
    paid = register(client, tokens, 1, participation="paid")
    clock.advance(hours=1)
    granted = register(client, tokens, 2, participation="free")
    clock.advance(hours=1)
    declined = register(
        client,
        tokens,
        3,
        participation="free",
        options={"physical_visit": False, "social_listening": True, "oral_restitution": False},
    )
    close(client, tokens)
    assert status_of(client, tokens, granted["registration_id"])["status"] == "in_panel"
    assert status_of(client, tokens, declined["registration_id"])["status"] == "declined"
    return {"paid": paid, "granted": granted, "declined": declined}


def test_a_declined_registration_may_switch_to_paid_and_join_the_panel(
    client: TestClient, tokens: Tokens, after_close: dict[str, Any]
) -> None:
    declined = after_close["declined"]
    rid = declined["registration_id"]
    own = {"Authorization": f"Bearer {declined['structure_token']}"}
    switched = switch(client, rid, own)
    assert switched.status_code == 200, switched.text
    assert switched.json()["status"] == "in_panel"
    assert switched.json()["participation"] == "paid"
    assert switched.json()["options"]["social_listening"] is True
    assert status_of(client, tokens, rid) == {**switched.json(), "contacts": ANY}
    in_panel = client.get("/editions/2027/registrations?status=in_panel", headers=tokens.admin)
    assert rid in ids(in_panel.json())

    # now paying, it signs its order form; switching again with other options is refused
    signed = client.post(
        f"/editions/2027/registrations/{rid}/order-form-signature",
        json={"signed_by": "Jeanne Martin"},
        headers=own,
    )
    assert signed.status_code == 200, signed.text
    body = assert_refused(switch(client, rid, tokens.admin, options={"physical_visit": True}), 409)
    assert "in_panel" in body["message"]
    assert status_of(client, tokens, rid) == {**signed.json(), "contacts": ANY}


def test_an_admin_may_switch_a_declined_registration_with_a_physical_visit(
    client: TestClient, tokens: Tokens, after_close: dict[str, Any]
) -> None:
    rid = after_close["declined"]["registration_id"]
    switched = switch(client, rid, tokens.admin, options={"physical_visit": True})
    assert switched.status_code == 200, switched.text
    assert switched.json()["status"] == "in_panel"
    assert switched.json()["options"]["physical_visit"] is True
    assert status_of(client, tokens, rid)["options"]["physical_visit"] is True


def test_switching_to_paid_keeps_the_options_not_mentioned(
    client: TestClient, tokens: Tokens, after_close: dict[str, Any]
) -> None:
    # Declined while asking for social listening; adding a visit must not drop it.
    rid = after_close["declined"]["registration_id"]
    switched = switch(client, rid, tokens.admin, options={"physical_visit": True})
    assert switched.status_code == 200, switched.text
    assert status_of(client, tokens, rid)["options"] == {
        "physical_visit": True,
        "social_listening": True,
        "oral_restitution": False,
    }


@pytest.mark.parametrize("which", ["granted", "paid"])
def test_a_registration_already_in_the_panel_cannot_switch_to_paid(
    client: TestClient, tokens: Tokens, after_close: dict[str, Any], which: str
) -> None:
    rid = after_close[which]["registration_id"]
    before = snapshot(client, tokens)
    body = assert_refused(switch(client, rid, tokens.structure(rid)), 409)
    assert body["error"] == "conflict"
    assert "declined" in body["message"]
    assert snapshot(client, tokens) == before


def test_a_free_registration_awaiting_the_close_cannot_switch_to_paid(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    rid = register(client, tokens, 1, participation="free")["registration_id"]
    before = snapshot(client, tokens)
    assert_refused(switch(client, rid, tokens.admin), 409)
    assert snapshot(client, tokens) == before
    assert status_of(client, tokens, rid)["status"] == "awaiting_free_place"


def test_a_declined_registration_cannot_sign_an_order_form(
    client: TestClient, tokens: Tokens, after_close: dict[str, Any]
) -> None:
    rid = after_close["declined"]["registration_id"]
    before = snapshot(client, tokens)
    response = client.post(
        f"/editions/2027/registrations/{rid}/order-form-signature",
        json={"signed_by": "Jeanne Martin"},
        headers=tokens.structure(rid),
    )
    body = assert_refused(response, 409)
    assert "switch to paid" in body["message"]
    assert snapshot(client, tokens) == before


# --- registrations racing the close ---------------------------------------------------------


def test_a_registration_racing_the_close_is_either_decided_by_it_or_refused_as_closed(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    """Registrations do not write the edition (so they do not queue on it): whichever commits
    first, none answered 201 is missed by the close, and none is admitted after it."""
    racing = 40
    start = threading.Barrier(racing + 1)

    def registering(number: int) -> Response:
        start.wait()
        return client.post(
            "/editions/2027/registrations",
            json=registration_body(number, participation="free", options={}),
            headers=tokens.frontend,
        )

    def closing() -> Response:
        start.wait()
        return client.post("/editions/2027/close", headers=tokens.admin)

    with ThreadPoolExecutor(max_workers=racing + 1) as pool:
        registered = [pool.submit(registering, n) for n in range(1, racing + 1)]
        closed = pool.submit(closing).result()
        answers = [r.result() for r in registered]

    assert closed.status_code == 200, closed.text
    admitted = {a.json()["registration_id"] for a in answers if a.status_code == 201}
    refused = [a for a in answers if a.status_code != 201]
    for refusal in refused:
        assert "closed" in assert_refused(refusal, 409)["message"]
    decided = {a["registration_id"] for a in closed.json()["allocations"]}
    assert decided == admitted
    assert closed.json()["edition"]["registrations"] == len(admitted)
    edition_now, listing = snapshot(client, tokens)
    assert edition_now["registrations"] == len(admitted)
    assert {r["registration_id"] for r in listing} == admitted
