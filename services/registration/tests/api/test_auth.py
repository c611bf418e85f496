"""Who may call what: 401 without a valid token, 403 with the wrong role or structure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from baro_chassis.auth import AUDIENCE, ISSUER, Role, issue_token
from baro_chassis.testing import TEST_JWT_SECRET, Tokens
from registration_builders import EDITION, registration_body

EDITION_2028 = {
    **EDITION,
    "year": 2028,
    "registration_deadline": "2028-03-15",
    "audit_window_start": "2028-04-01",
    "audit_window_end": "2028-05-31",
}
SITE = {"name": "Médiathèque", "kind": "annex", "address": "3 rue des Livres, 69000 Lyon"}
CONTACTS = {
    "decision_maker": {"name": "M. Maire", "email": "maire@example.fr", "phone": "0102030405"}
}

# endpoint name -> (method, path, JSON body); {own} is the registration the calls target
ENDPOINTS: dict[str, tuple[str, str, Any]] = {
    "open_edition": ("POST", "/editions", EDITION_2028),
    "get_edition": ("GET", "/editions/2027", None),
    "close": ("POST", "/editions/2027/close", None),
    "register": ("POST", "/editions/2027/registrations", registration_body(3)),
    "list": ("GET", "/editions/2027/registrations", None),
    "get_registration": ("GET", "/editions/2027/registrations/{own}", None),
    "add_site": ("POST", "/editions/2027/registrations/{own}/sites", SITE),
    "sign": (
        "POST",
        "/editions/2027/registrations/{own}/order-form-signature",
        {"signed_by": "Jeanne Martin"},
    ),
    "switch_to_paid": ("POST", "/editions/2027/registrations/{own}/switch-to-paid", {}),
    "read_contacts": ("GET", "/editions/2027/registrations/{own}/contacts", None),
    "correct_contacts": ("PUT", "/editions/2027/registrations/{own}/contacts", CONTACTS),
    "erase_contacts": ("DELETE", "/editions/2027/registrations/{own}/contacts", None),
    "contacts_access_log": (
        "GET",
        "/editions/2027/registrations/{own}/contacts/access-log",
        None,
    ),
}
PRINCIPALS = ("admin", "frontend", "finance", "auditor", "replay_auditor", "own", "other")
ALLOWED: dict[str, set[str]] = {
    "open_edition": {"admin"},
    "get_edition": set(PRINCIPALS),
    "close": {"admin"},
    "register": {"admin", "frontend"},
    "list": {"admin", "finance"},
    "get_registration": {"admin", "finance", "own"},
    "add_site": {"admin", "frontend", "own"},
    "sign": {"admin", "own"},
    "switch_to_paid": {"admin", "own"},
    "read_contacts": {"admin", "own"},
    "correct_contacts": {"admin", "own"},
    "erase_contacts": {"admin", "own"},
    "contacts_access_log": {"admin"},
}


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def world(client: TestClient, tokens: Tokens, edition: dict[str, Any]) -> dict[str, Any]:
    """Edition 2027 with two registrations: the structure's own one and another one."""
    made = {}
    for name, number in (("own", 1), ("other", 2)):
        response = client.post(
            "/editions/2027/registrations", json=registration_body(number), headers=tokens.admin
        )
        assert response.status_code == 201, response.text
        made[name] = response.json()
    return made


def headers_of(tokens: Tokens, world: dict[str, Any], principal: str) -> dict[str, str]:
    if principal in {"own", "other"}:
        return {"Authorization": f"Bearer {world[principal]['structure_token']}"}
    if principal == "replay_auditor":
        return tokens.headers(Role.REPLAY_AUDITOR)
    return dict(getattr(tokens, principal))


def call(
    client: TestClient, world: dict[str, Any], endpoint: str, headers: dict[str, str]
) -> Response:
    method, path, body = ENDPOINTS[endpoint]
    url = path.format(own=world["own"]["registration_id"])
    return client.request(method, url, json=body, headers=headers)


def recorded(client: TestClient, tokens: Tokens, world: dict[str, Any]) -> Any:
    """Everything the calls could change, read as an admin."""
    admin = tokens.admin
    rids = [world[name]["registration_id"] for name in ("own", "other")]
    return (
        client.get("/editions/2027", headers=admin).json(),
        client.get("/editions/2028", headers=admin).status_code,
        client.get("/editions/2027/registrations", headers=admin).json(),
        [client.get(f"/editions/2027/registrations/{r}", headers=admin).json() for r in rids],
    )


def assert_refused(response: Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "errors"}
    assert body["error"] == error
    assert body["message"]
    assert body["errors"] == []
    return body


# --- 401 ----------------------------------------------------------------------------------


def bad_credentials() -> dict[str, dict[str, str]]:
    now = datetime.now(UTC)

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": now, "exp": now + timedelta(1)}
    return {
        "none": {},
        "garbage": bearer("garbage"),
        "empty": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "expired": Tokens().headers(Role.ADMIN, ttl=timedelta(seconds=-5)),
        "other_secret": bearer(
            issue_token("another-secret-that-is-long-enough-000000", roles=(Role.ADMIN,))
        ),
        "unsigned": bearer(jwt.encode({**claims, "roles": ["admin"]}, None, algorithm="none")),
        "wrong_audience": bearer(
            jwt.encode({**claims, "aud": "elsewhere", "roles": ["admin"]}, TEST_JWT_SECRET)
        ),
        "no_expiry": bearer(
            jwt.encode(
                {k: v for k, v in {**claims, "roles": ["admin"]}.items() if k != "exp"},
                TEST_JWT_SECRET,
            )
        ),
        "unknown_role": bearer(jwt.encode({**claims, "roles": ["superuser"]}, TEST_JWT_SECRET)),
    }


@pytest.mark.parametrize("credentials", list(bad_credentials()))
def test_every_endpoint_answers_401_without_a_valid_token_and_changes_nothing(
    client: TestClient, tokens: Tokens, world: dict[str, Any], credentials: str
) -> None:
    headers = bad_credentials()[credentials]
    before = recorded(client, tokens, world)
    for endpoint in ENDPOINTS:
        response = call(client, world, endpoint, headers)
        assert_refused(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer", endpoint
    assert recorded(client, tokens, world) == before


def test_an_expired_token_is_told_it_expired(
    client: TestClient, tokens: Tokens, edition: dict[str, Any]
) -> None:
    expired = tokens.headers(Role.ADMIN, ttl=timedelta(seconds=-5))
    body = assert_refused(client.get("/editions/2027", headers=expired), 401, "unauthorized")
    assert "expired" in body["message"]


def test_an_expired_structure_token_no_longer_reads_its_registration(
    client: TestClient, tokens: Tokens, world: dict[str, Any]
) -> None:
    rid = world["own"]["registration_id"]
    expired = tokens.headers(registration_id=UUID(rid), ttl=timedelta(seconds=-5))
    response = client.get(f"/editions/2027/registrations/{rid}", headers=expired)
    assert_refused(response, 401, "unauthorized")


# --- 403 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_each_endpoint_answers_403_to_the_wrong_role_and_changes_nothing(
    client: TestClient, tokens: Tokens, world: dict[str, Any], endpoint: str
) -> None:
    before = recorded(client, tokens, world)
    forbidden = [p for p in PRINCIPALS if p not in ALLOWED[endpoint]]
    for principal in forbidden:
        response = call(client, world, endpoint, headers_of(tokens, world, principal))
        assert response.status_code == 403, (endpoint, principal, response.text)
        assert_refused(response, 403, "forbidden")
    assert recorded(client, tokens, world) == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_each_endpoint_lets_its_roles_through(
    client: TestClient, tokens: Tokens, world: dict[str, Any], endpoint: str
) -> None:
    for principal in sorted(ALLOWED[endpoint]):
        response = call(client, world, endpoint, headers_of(tokens, world, principal))
        # the rules may still refuse (409 on a repeat), but never for lack of rights
        assert response.status_code not in {401, 403}, (endpoint, principal, response.text)
        assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("endpoint", "principal"),
    [
        ("close", "frontend"),
        ("register", "finance"),
        ("list", "auditor"),
        ("list", "own"),
        ("get_registration", "other"),
        ("sign", "frontend"),
    ],
)
def test_named_refusals_say_which_roles_are_needed(
    client: TestClient, tokens: Tokens, world: dict[str, Any], endpoint: str, principal: str
) -> None:
    response = call(client, world, endpoint, headers_of(tokens, world, principal))
    body = assert_refused(response, 403, "forbidden")
    assert "admin" in body["message"] or "another registration" in body["message"]


def test_a_structure_token_acts_only_on_its_own_registration(
    client: TestClient, tokens: Tokens, world: dict[str, Any]
) -> None:
    own = headers_of(tokens, world, "own")
    other_id = world["other"]["registration_id"]
    before = recorded(client, tokens, world)
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/sites", SITE),
        ("POST", "/order-form-signature", {"signed_by": "Intruder"}),
        ("POST", "/switch-to-paid", {}),
        ("GET", "/contacts", None),
        ("PUT", "/contacts", CONTACTS),
        ("DELETE", "/contacts", None),
        ("GET", "/contacts/access-log", None),
    ):
        url = f"/editions/2027/registrations/{other_id}{suffix}"
        response = client.request(method, url, json=body, headers=own)
        assert_refused(response, 403, "forbidden")
    assert recorded(client, tokens, world) == before


# --- open endpoints -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json"])
def test_health_and_docs_need_no_token(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    if path == "/health":
        assert response.json() == {"status": "ok", "service": "registration"}
    if path == "/openapi.json":
        assert "/editions/{year}/registrations" in response.json()["paths"]
