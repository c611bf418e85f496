"""Registrations through the HTTP API: register, read, list, add sites, sign order forms."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from baro_chassis.testing import FakeClock, Tokens
from registration_builders import assert_refused, make_siret, registration_body, snapshot

DEADLINE_LAST_INSTANT = datetime(2027, 3, 15, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Paris
AFTER_DEADLINE = datetime(2027, 3, 15, 23, 0, tzinfo=UTC)  # 16 March, 00:00 in Paris


# --- helpers ------------------------------------------------------------------------------


def register(
    client: TestClient, tokens: Tokens, number: int = 1, *, year: int = 2027, **overrides: Any
) -> Response:
    return client.post(
        f"/editions/{year}/registrations",
        json=registration_body(number, **overrides),
        headers=tokens.frontend,
    )


def registered(
    client: TestClient, tokens: Tokens, number: int = 1, **overrides: Any
) -> dict[str, Any]:
    response = register(client, tokens, number, **overrides)
    assert response.status_code == 201, response.text
    return dict(response.json())


def get_registration(client: TestClient, tokens: Tokens, rid: str) -> dict[str, Any]:
    response = client.get(f"/editions/2027/registrations/{rid}", headers=tokens.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def without_token(registration: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in registration.items() if k != "structure_token"}


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def open_2028(client: TestClient, tokens: Tokens) -> None:
    body = {
        "year": 2028,
        "registration_deadline": "2028-03-15",
        "audit_window_start": "2028-04-01",
        "audit_window_end": "2028-05-31",
        "free_places": 2,
    }
    assert client.post("/editions", json=body, headers=tokens.admin).status_code == 201


# --- registering --------------------------------------------------------------------------


def test_registering_answers_201_with_id_category_status_and_structure_token(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    response = register(client, tokens, 1, certifications=["qualivilles", "label_marianne"])
    assert response.status_code == 201, response.text
    body = response.json()
    rid = UUID(body["registration_id"])
    assert response.headers["location"] == f"/editions/2027/registrations/{rid}"
    assert body["edition"] == 2027
    assert body["siret"] == make_siret(1)
    assert body["category"] == "city_under_20k"
    assert body["status"] == "in_panel"
    assert body["participation"] == "paid"
    assert body["certifications"] == ["label_marianne", "qualivilles"]
    assert at(body["registered_at"]) == clock.now
    assert body["free_place"] is None
    assert body["order_form"] is None
    assert [s["name"] for s in body["sites"]] == ["Hôtel de ville"]
    UUID(body["sites"][0]["site_id"])
    assert isinstance(body["structure_token"], str)
    assert body["structure_token"]

    own = {"Authorization": f"Bearer {body['structure_token']}"}
    got = client.get(f"/editions/2027/registrations/{rid}", headers=own)
    assert got.status_code == 200, got.text
    assert got.json() == without_token(body)
    assert client.get("/editions/2027", headers=tokens.admin).json()["registrations"] == 1


def test_a_free_registration_awaits_a_free_place(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    body = registered(client, tokens, participation="free")
    assert body["status"] == "awaiting_free_place"
    assert body["participation"] == "free"


def test_an_admin_may_register_a_structure(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    response = client.post(
        "/editions/2027/registrations", json=registration_body(1), headers=tokens.admin
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("kind", "population", "category"),
    [
        ("commune", 19_999, "city_under_20k"),
        ("commune", 20_000, "city_20k_50k"),
        ("commune", 49_999, "city_20k_50k"),
        ("commune", 50_000, "city_over_50k"),
        ("intercommunality", 80_000, "intercommunality"),
        ("department", 1_000_000, "department"),
        ("region", 5_000_000, "region"),
        ("france_services", None, "france_services"),
        ("social_service", None, "social_services"),
        ("tourist_office", None, "development_services"),
        ("library", None, "other_public"),
    ],
)
def test_the_category_comes_from_kind_and_population(
    client: TestClient,
    tokens: Tokens,
    edition: dict[str, Any],
    kind: str,
    population: int | None,
    category: str,
) -> None:
    body = registered(client, tokens, kind=kind, population=population)
    assert body["category"] == category
    assert get_registration(client, tokens, body["registration_id"])["category"] == category


def test_a_siret_typed_with_spaces_is_recorded_without_them(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    body = registered(client, tokens, siret="216 902 668 00013")
    assert body["siret"] == "21690266800013"


def test_a_la_poste_establishment_registers_with_the_digit_sum_rule(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    body = registered(client, tokens, siret="35600000000001", kind="other_public", population=None)
    assert body["siret"] == "35600000000001"


def test_la_poste_head_office_can_register(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    # 356 000 000 00048 is La Poste's head office: it keeps the Luhn key (digit sum 26).
    response = register(
        client, tokens, siret="35600000000048", kind="other_public", population=None
    )
    assert response.status_code == 201, response.text


REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"siret": "1234"}, "siret"),
    ({"siret": "216902668000130"}, "siret"),
    ({"siret": "2169026680001A"}, "siret"),
    ({"siret": 21690266800013}, "siret"),
    ({"siret": "21690266800014"}, "siret"),  # Luhn fails
    ({"siret": "35600000000014"}, "siret"),  # La Poste, digit sum 19
    ({"participation": "free", "options": {"physical_visit": True}}, "options.physical_visit"),
    ({"participation": "free", "options": {"oral_restitution": True}}, "options.oral_restitution"),
    ({"sites": []}, "sites"),
    ({"contacts": {}}, "contacts"),
    ({"contacts": {"referrer": None, "decision_maker": None}}, "contacts"),
    ({"population": None}, "population"),
    ({"kind": "intercommunality", "population": None}, "population"),
    ({"kind": "department", "population": None}, "population"),
    ({"kind": "region", "population": None}, "population"),
    ({"population": -5}, "population"),
    ({"name": "   "}, "name"),
    ({"department": "00"}, "department"),
    ({"kind": "castle"}, "kind"),
    ({"participation": "maybe"}, "participation"),
    ({"certifications": ["iso_14001"]}, "certifications.0"),
    (
        {"contacts": {"referrer": {"name": "J", "email": "not-an-email", "phone": "0478000000"}}},
        "contacts.referrer.email",
    ),
    ({"sites": [{"name": "Mairie", "kind": "main"}]}, "sites.0.address"),
    ({"sites": [{"name": "Mairie", "kind": "main", "address": "   "}]}, "sites.0.address"),
    ({"sites": [{"name": "   ", "kind": "main", "address": "1 rue"}]}, "sites.0.name"),
]


@pytest.mark.parametrize(("overrides", "field"), REFUSALS)
def test_a_bad_registration_is_422_naming_the_field_and_changes_nothing(
    client: TestClient,
    tokens: Tokens,
    edition: dict[str, Any],
    overrides: dict[str, Any],
    field: str,
) -> None:
    first = registered(client, tokens, 1)
    before = snapshot(client, tokens)
    body = assert_refused(register(client, tokens, 2, **overrides), 422, field)
    assert body["error"] == "invalid_request"
    assert snapshot(client, tokens) == before
    assert before[0]["registrations"] == 1
    assert get_registration(client, tokens, first["registration_id"]) == without_token(first)


def test_a_siret_checksum_refusal_explains_itself(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    body = assert_refused(register(client, tokens, siret="21690266800014"), 422, "siret")
    reason = next(e["reason"] for e in body["errors"] if e["field"] == "siret")
    assert "checksum" in reason


def test_registering_on_the_last_day_of_the_deadline_is_accepted(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    clock.now = DEADLINE_LAST_INSTANT
    body = registered(client, tokens)
    assert at(body["registered_at"]) == DEADLINE_LAST_INSTANT


def test_registering_after_the_deadline_is_409_and_changes_nothing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    registered(client, tokens, 1)
    before = snapshot(client, tokens)
    clock.now = AFTER_DEADLINE
    body = assert_refused(register(client, tokens, 2), 409)
    assert body["error"] == "conflict"
    assert "deadline" in body["message"]
    assert snapshot(client, tokens) == before


def test_registering_after_the_close_is_409_and_changes_nothing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    registered(client, tokens, 1)
    assert client.post("/editions/2027/close", headers=tokens.admin).status_code == 200
    before = snapshot(client, tokens)
    body = assert_refused(register(client, tokens, 2), 409)
    assert "closed" in body["message"]
    assert snapshot(client, tokens) == before


@pytest.mark.parametrize("again", [make_siret(1), " ".join(make_siret(1))])
def test_the_same_siret_twice_in_one_edition_is_409_and_keeps_the_first(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], again: str
) -> None:
    first = registered(client, tokens, 1)
    before = snapshot(client, tokens)
    response = register(client, tokens, 2, siret=again, name="Another name", participation="free")
    assert_refused(response, 409, "siret")
    assert snapshot(client, tokens) == before
    assert get_registration(client, tokens, first["registration_id"]) == without_token(first)


def test_the_same_siret_in_full_width_digits_is_not_a_second_registration(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    registered(client, tokens, 1)
    before = snapshot(client, tokens)
    full_width = "".join(chr(0xFF10 + int(c)) for c in make_siret(1))  # U+FF10..U+FF19
    response = register(client, tokens, 2, siret=full_width)
    assert response.status_code in {409, 422}, response.text
    assert snapshot(client, tokens) == before


def test_the_same_siret_may_register_in_another_edition(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    first = registered(client, tokens, 1)
    open_2028(client, tokens)
    response = register(client, tokens, 1, year=2028)
    assert response.status_code == 201, response.text
    assert response.json()["edition"] == 2028
    assert response.json()["registration_id"] != first["registration_id"]
    assert len(snapshot(client, tokens, 2027)[1]) == 1
    assert len(snapshot(client, tokens, 2028)[1]) == 1


def test_registering_for_an_unknown_edition_is_404_and_creates_nothing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    before = snapshot(client, tokens)
    body = assert_refused(register(client, tokens, 1, year=2031), 404)
    assert body["error"] == "not_found"
    assert_refused(client.get("/editions/2031", headers=tokens.admin), 404)
    assert snapshot(client, tokens) == before


# --- reading and listing ------------------------------------------------------------------


@pytest.fixture
def four(client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock) -> Any:
    """Four registrations, one hour apart: small free city, big paid city, paid department,
    mid-sized free city."""
    made = []
    for number, overrides in [
        (1, {"population": 12_000, "participation": "free"}),
        (2, {"population": 60_000, "participation": "paid"}),
        (3, {"kind": "department", "population": 800_000, "participation": "paid"}),
        (4, {"population": 30_000, "participation": "free"}),
    ]:
        made.append(registered(client, tokens, number, **overrides)["registration_id"])
        clock.advance(hours=1)
    return made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [0, 1, 2, 3]),
        ("?category=city_under_20k", [0]),
        ("?category=city_20k_50k", [3]),
        ("?category=department", [2]),
        ("?category=region", []),
        ("?status=in_panel", [1, 2]),
        ("?status=awaiting_free_place", [0, 3]),
        ("?status=declined", []),
        ("?category=city_over_50k&status=in_panel", [1]),
        ("?category=city_over_50k&status=awaiting_free_place", []),
    ],
)
def test_listing_filters_by_category_and_status_in_registration_order(
    client: TestClient, tokens: Tokens, four: list[str], query: str, expected: list[int]
) -> None:
    for headers in (tokens.admin, tokens.finance):
        response = client.get(f"/editions/2027/registrations{query}", headers=headers)
        assert response.status_code == 200, response.text
        assert [r["registration_id"] for r in response.json()] == [four[i] for i in expected]


@pytest.mark.parametrize(
    ("query", "field"), [("?category=castles", "category"), ("?status=maybe", "status")]
)
def test_listing_with_an_unknown_filter_is_422(
    client: TestClient, tokens: Tokens, four: list[str], query: str, field: str
) -> None:
    response = client.get(f"/editions/2027/registrations{query}", headers=tokens.admin)
    assert_refused(response, 422, field)


def test_a_registration_is_readable_by_admin_finance_and_its_own_structure(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    mine = registered(client, tokens, 1)
    other = registered(client, tokens, 2)
    url = f"/editions/2027/registrations/{mine['registration_id']}"
    for headers in (
        tokens.admin,
        tokens.structure(mine["registration_id"]),
        {"Authorization": f"Bearer {mine['structure_token']}"},
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == without_token(mine)
    for_finance = client.get(url, headers=tokens.finance)
    assert for_finance.status_code == 200, for_finance.text
    assert for_finance.json() == {
        **without_token(mine),
        "contacts": {
            "referrer": {
                "name": "Jeanne Martin",
                "email": "jeanne.martin@example.fr",
                "phone": None,
            },
            "decision_maker": None,
            "erased": None,
        },
    }
    for headers in (
        tokens.structure(other["registration_id"]),
        {"Authorization": f"Bearer {other['structure_token']}"},
    ):
        body = assert_refused(client.get(url, headers=headers), 403)
        assert body["error"] == "forbidden"


def test_an_unknown_registration_is_404(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    mine = registered(client, tokens, 1)
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_refused(client.get(f"/editions/2027/registrations/{unknown}", headers=tokens.admin), 404)
    open_2028(client, tokens)
    wrong_year = f"/editions/2028/registrations/{mine['registration_id']}"
    assert_refused(client.get(wrong_year, headers=tokens.admin), 404)
    not_a_uuid = "/editions/2027/registrations/not-a-uuid"
    assert_refused(client.get(not_a_uuid, headers=tokens.admin), 422, "registration_id")


# --- sites --------------------------------------------------------------------------------

NEW_SITE = {
    "name": "Mairie annexe",
    "kind": "annex",
    "address": "2 rue de la Poste, 69000 Lyon",
    "contact_points": {"phone": "04 78 11 11 11"},
}


def test_sites_may_be_added_before_the_deadline(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    mine = registered(client, tokens, 1)
    url = f"/editions/2027/registrations/{mine['registration_id']}/sites"
    own = {"Authorization": f"Bearer {mine['structure_token']}"}
    clock.now = DEADLINE_LAST_INSTANT
    added = []
    for number, headers in enumerate((own, tokens.frontend, tokens.admin)):
        response = client.post(url, json={**NEW_SITE, "name": f"Annexe {number}"}, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["name"] == f"Annexe {number}"
        assert response.json()["kind"] == "annex"
        added.append(response.json())
    sites = get_registration(client, tokens, mine["registration_id"])["sites"]
    assert [s["name"] for s in sites] == ["Hôtel de ville", "Annexe 0", "Annexe 1", "Annexe 2"]
    assert sites[1:] == added
    assert len({s["site_id"] for s in sites}) == 4


def test_adding_a_site_after_the_deadline_is_409_and_changes_nothing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    mine = registered(client, tokens, 1)
    before = snapshot(client, tokens)
    clock.now = AFTER_DEADLINE
    url = f"/editions/2027/registrations/{mine['registration_id']}/sites"
    body = assert_refused(client.post(url, json=NEW_SITE, headers=tokens.admin), 409)
    assert "deadline" in body["message"]
    assert snapshot(client, tokens) == before


def test_adding_a_site_after_the_close_is_409_and_changes_nothing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    mine = registered(client, tokens, 1)
    assert client.post("/editions/2027/close", headers=tokens.admin).status_code == 200
    before = snapshot(client, tokens)
    url = f"/editions/2027/registrations/{mine['registration_id']}/sites"
    own = tokens.structure(mine["registration_id"])
    body = assert_refused(client.post(url, json=NEW_SITE, headers=own), 409)
    assert "closed" in body["message"]
    assert snapshot(client, tokens) == before


@pytest.mark.parametrize(
    ("site", "field"),
    [
        ({"name": "Annexe", "kind": "annex"}, "address"),
        ({**NEW_SITE, "address": "   "}, "site.address"),
        ({**NEW_SITE, "name": ""}, "name"),
        ({**NEW_SITE, "kind": "castle"}, "kind"),
    ],
)
def test_a_bad_site_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], site: dict[str, Any], field: str
) -> None:
    mine = registered(client, tokens, 1)
    before = snapshot(client, tokens)
    url = f"/editions/2027/registrations/{mine['registration_id']}/sites"
    assert_refused(client.post(url, json=site, headers=tokens.admin), 422, field)
    assert snapshot(client, tokens) == before


def test_adding_a_site_to_an_unknown_registration_is_404(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    url = "/editions/2027/registrations/00000000-0000-4000-8000-000000000000/sites"
    assert_refused(client.post(url, json=NEW_SITE, headers=tokens.admin), 404)


# --- order-form signature -----------------------------------------------------------------


def sign(client: TestClient, rid: str, headers: dict[str, str], who: str) -> Response:
    return client.post(
        f"/editions/2027/registrations/{rid}/order-form-signature",
        json={"signed_by": who},
        headers=headers,
    )


def test_the_structure_signs_its_order_form_once(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    mine = registered(client, tokens, 1)
    rid = mine["registration_id"]
    own = {"Authorization": f"Bearer {mine['structure_token']}"}
    clock.advance(days=3)
    signed = sign(client, rid, own, "Jeanne Martin, maire")
    assert signed.status_code == 200, signed.text
    assert signed.json()["order_form"]["signed_by"] == "Jeanne Martin, maire"
    assert at(signed.json()["order_form"]["signed_at"]) == clock.now
    recorded = get_registration(client, tokens, rid)
    assert recorded == {**signed.json(), "contacts": mine["contacts"]}

    clock.advance(days=1)
    for headers in (own, tokens.admin):
        body = assert_refused(sign(client, rid, headers, "Someone Else"), 409)
        assert "already signed" in body["message"]
    assert get_registration(client, tokens, rid) == recorded


def test_an_admin_signs_on_behalf_of_the_structure_once(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    rid = registered(client, tokens, 1)["registration_id"]
    signed = sign(client, rid, tokens.admin, "Signed on paper, entered by AFNOR")
    assert signed.status_code == 200, signed.text
    assert signed.json()["order_form"]["signed_by"] == "Signed on paper, entered by AFNOR"
    assert_refused(sign(client, rid, tokens.structure(rid), "Jeanne Martin"), 409)
    assert_refused(sign(client, rid, tokens.admin, "Again"), 409)
    assert get_registration(client, tokens, rid)["order_form"] == signed.json()["order_form"]


def test_an_order_form_signature_must_say_who_signed(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    rid = registered(client, tokens, 1)["registration_id"]
    before = get_registration(client, tokens, rid)
    assert_refused(sign(client, rid, tokens.admin, ""), 422, "signed_by")
    assert_refused(sign(client, rid, tokens.admin, "   "), 422, "signed_by")
    assert get_registration(client, tokens, rid) == before


def test_signing_the_order_form_of_an_unknown_registration_is_404(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    assert_refused(sign(client, "00000000-0000-4000-8000-000000000000", tokens.admin, "X"), 404)


def test_an_edition_with_many_registrations_keeps_counting_and_refusing(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    # more registrations than the edition's snapshotting interval
    for number in range(1, 56):
        registered(client, tokens, number, participation="free")
        clock.advance(minutes=1)
    before = snapshot(client, tokens)
    assert before[0]["registrations"] == 55
    assert len(before[1]) == 55
    assert_refused(register(client, tokens, 7), 409, "siret")
    clock.now = DEADLINE_LAST_INSTANT
    registered(client, tokens, 56, participation="free")
    clock.now = AFTER_DEADLINE
    assert_refused(register(client, tokens, 57), 409)
    closed = client.post("/editions/2027/close", headers=tokens.admin)
    assert closed.status_code == 200, closed.text
    assert closed.json()["edition"]["registrations"] == 56
    assert closed.json()["edition"]["granted"] == 2
    assert closed.json()["edition"]["declined"] == 54
    assert [a["siret"] for a in closed.json()["allocations"][:2]] == [make_siret(1), make_siret(2)]


# --- concurrency --------------------------------------------------------------------------


def in_parallel(
    client: TestClient, tokens: Tokens, bodies: list[dict[str, Any]]
) -> tuple[list[int], list[str]]:
    """POST every body at once; the statuses, and the errors of requests the app crashed on."""
    start = threading.Barrier(len(bodies))
    headers = tokens.frontend
    crashes: list[str] = []

    def post(body: dict[str, Any]) -> int:
        start.wait()
        try:
            response = client.post("/editions/2027/registrations", json=body, headers=headers)
        except Exception as exc:  # the app crashed on this request: the caller gets a 500
            crashes.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            return 500
        return response.status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies)), crashes


def test_ten_simultaneous_registrations_of_one_siret_give_one_201_and_nine_409(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    bodies = [registration_body(1, name=f"Attempt {i}") for i in range(10)]
    statuses, crashes = in_parallel(client, tokens, bodies)
    assert sorted(statuses) == [201] + [409] * 9, crashes
    edition_now, listing = snapshot(client, tokens)
    assert edition_now["registrations"] == 1
    assert [r["siret"] for r in listing] == [make_siret(1)]


def test_ten_simultaneous_registrations_of_different_sirets_all_succeed(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    bodies = [registration_body(number) for number in range(1, 11)]
    statuses, crashes = in_parallel(client, tokens, bodies)
    assert statuses == [201] * 10, crashes
    edition_now, listing = snapshot(client, tokens)
    assert edition_now["registrations"] == 10
    assert sorted(r["siret"] for r in listing) == sorted(make_siret(n) for n in range(1, 11))


def test_a_burst_of_twenty_registrations_at_the_deadline_all_succeed(
    client: TestClient, tokens: Tokens, edition: dict[str, Any], clock: FakeClock
) -> None:
    clock.now = DEADLINE_LAST_INSTANT
    bodies = [registration_body(number) for number in range(1, 21)]
    statuses, crashes = in_parallel(client, tokens, bodies)
    assert statuses == [201] * 20, crashes
    assert snapshot(client, tokens)[0]["registrations"] == 20
