"""On every protected route of every service, what the headers alone can refuse is refused
before the body is read or a parameter checked: no token 401, a role that may not 403, a
body declared over the limit 413, each in the one error shape. The apps are not started:
a route that got as far as its body or its database would fail here."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from baro_chassis.auth import Role
from baro_chassis.routing import GuardedRoute, requirements_of
from baro_chassis.settings import DEFAULT_MAX_BODY_BYTES
from baro_chassis.testing import Tokens, settings_of

pytestmark = pytest.mark.unit


def _apps() -> dict[str, Callable[[], FastAPI]]:
    from baro_audit_ingest.main import create_app as audit_ingest
    from baro_billing.main import create_app as billing
    from baro_registration.main import create_app as registration
    from baro_reporting.main import create_app as reporting
    from baro_scoring.main import create_app as scoring

    def settings(service: str) -> object:
        return settings_of(service, "postgresql://127.0.0.1:1/unused", "nats://127.0.0.1:1")

    return {
        "registration": lambda: registration(settings("registration")),  # type: ignore[arg-type]
        "audit-ingest": lambda: audit_ingest(settings("audit-ingest")),  # type: ignore[arg-type]
        "scoring": lambda: scoring(settings("scoring")),  # type: ignore[arg-type]
        "billing": lambda: billing(settings("billing")),  # type: ignore[arg-type]
        "reporting": lambda: reporting(settings("reporting")),  # type: ignore[arg-type]
    }


SERVICES = ["registration", "audit-ingest", "scoring", "billing", "reporting"]


def _routes(service: str) -> list[APIRoute]:
    """The routes of the service's router (the app holds them as an included router)."""
    module = importlib.import_module(f"baro_{service.replace('-', '_')}.api")
    routes = [r for r in module.router.routes if isinstance(r, APIRoute)]
    assert routes
    return routes


def _garbled(path: str) -> str:
    """The path with every parameter a value no route accepts (not a year, not a UUID)."""
    return re.sub(r"\{[^}]+\}", "not-a-value", path)


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_checks_the_token_before_the_body(service: str, tokens: Tokens) -> None:
    routes = _routes(service)
    assert all(isinstance(r, GuardedRoute) for r in routes)
    client = TestClient(_apps()[service]())
    protected = 0
    for route in routes:
        requirements = requirements_of(route.dependant)
        if not requirements:
            continue
        protected += 1
        method = sorted(route.methods)[0]
        path = _garbled(route.path)
        garbage = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
        anonymous = client.request(method, path, **garbage)  # type: ignore[arg-type]
        assert anonymous.status_code == 401, (method, route.path, anonymous.text)
        assert anonymous.json()["error"] == "unauthorized"
        refused_roles = [r for r in Role if not any(r in q.roles for q in requirements)]
        if refused_roles:
            headers = {**garbage["headers"], **tokens.headers(refused_roles[0])}
            wrong = client.request(method, path, content=garbage["content"], headers=headers)
            assert wrong.status_code == 403, (method, route.path, wrong.text)
            assert wrong.json()["error"] == "forbidden"
    assert protected > 0


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_refuses_a_body_declared_over_the_limit(service: str, tokens: Tokens) -> None:
    client = TestClient(_apps()[service]())
    too_large = 5 * DEFAULT_MAX_BODY_BYTES  # over the batch route's larger limit too
    for route in _routes(service):
        for method in route.methods - {"GET", "HEAD"}:
            refused = client.request(
                method,
                _garbled(route.path),
                content=b"{}",
                headers={**tokens.admin, "Content-Length": str(too_large)},
            )
            assert refused.status_code == 413, (method, route.path, refused.text)
            assert refused.json()["error"] == "body_too_large"
