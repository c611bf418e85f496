"""Schemathesis over every service's OpenAPI, on real NATS and PostgreSQL.

For each service: every operation gets a bounded number of generated requests, valid ones
(positive) and invalid ones (negative), sent with an admin token and without any; in half
the cases the path names what the service holds (its edition, a registration, a quote...),
so routes get past their 404. Every
response must be no server error, have a status the operation declares and a body of the
schema declared for it. The failures are collected, printed with the counts, and must be
none. Seeded and bounded (`MAX_EXAMPLES`), it runs in about a minute on two cores.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from baro_chassis.auth import Role
from baro_chassis.settings import Settings
from baro_chassis.testing import FakeClock, Tokens, fresh_database, settings_of

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 8
"""Per operation, generation mode and caller: 54 operations x 2 x 2 x 8 ≈ 1,600 requests at most."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Summary:
    service: str
    cases: int = 0
    operations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    """(operation, check) → the first failing request and what was wrong."""

    def line(self) -> str:
        return (
            f"{self.service}: {self.operations} operations, {self.cases} cases, "
            f"{len(self.failures)} distinct failures; statuses "
            + ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        )


def _send(client: TestClient, case: schemathesis.Case, headers: dict[str, str]) -> Any:
    sent = case.as_transport_kwargs(base_url="http://testserver")
    body: dict[str, Any] = {}
    if "json" in sent:
        body["content"] = json.dumps(sent["json"]).encode()
    elif sent.get("data") is not None:
        data = sent["data"]
        body["content"] = data if isinstance(data, bytes) else str(data).encode()
    request_headers = {k: v for k, v in (sent.get("headers") or {}).items() if k != "Authorization"}
    if "json" in sent:
        request_headers.setdefault("Content-Type", "application/json")
    return client.request(
        sent["method"],
        sent["url"].removeprefix("http://testserver"),
        params=sent.get("params"),
        headers={**request_headers, **headers},
        **body,
    )


def _what(failure: Failure | FailureGroup) -> str:
    failures = failure.exceptions if isinstance(failure, FailureGroup) else (failure,)
    return "; ".join(f"{f.title}: {f.message[:300]}" for f in failures)


def fuzz(
    service: str, client: TestClient, known: dict[str, Any], callers: dict[str, dict[str, str]]
) -> Summary:
    """`known`: path parameters' values the service holds (its edition's year, ids), put in
    place of the generated ones in about half the cases."""
    summary = Summary(service)
    schema = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    for result in schema.get_all_operations():
        operation = result.ok()
        summary.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for caller, headers in callers.items():

                @given(case=operation.as_strategy(mode), use_known=st.booleans())
                @settings(
                    max_examples=MAX_EXAMPLES,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def run(case: schemathesis.Case, use_known: bool) -> None:
                    if use_known and case.path_parameters:
                        for name in case.path_parameters.keys() & known.keys():
                            case.path_parameters[name] = known[name]
                    summary.cases += 1
                    response = _send(client, case, headers)
                    summary.statuses[response.status_code] += 1
                    try:
                        case.validate_response(response, checks=CHECKS)
                    except (Failure, FailureGroup) as failure:
                        key = (operation.label, f"{mode.value}, {caller}")
                        summary.failures.setdefault(
                            key,
                            f"{case.method} {case.formatted_path} -> {response.status_code}: "
                            f"{_what(failure)}",
                        )

                with contextlib.suppress(HypothesisException):
                    # e.g. no invalid request can be made of an operation without parameters
                    run()
    return summary


HOSTILE_BODIES = {
    "NaN": b'{"population": NaN, "weight": NaN, "answers": {"PHO-ACC-02": NaN}}',
    "Infinity": b'{"amount_cents": Infinity, "free_places": -Infinity}',
    "a number past float": b'{"population": 1e400, "small_structure_cents": 1e400}',
    "a 100,000-deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "a 500-deep nesting": b'{"probes": [' + b"[" * 500 + b"]" * 500 + b"]}",
    "a NUL and a lone surrogate": b'{"name": "a\\u0000b", "reason": "\\ud800"}',
    "not UTF-8": b'{"name": "\xff\xfe"}',
}
"""Bodies no generator sends (not JSON, or JSON that Python reads and JSON Schema cannot
describe), to every route that takes a body."""


def hostile_bodies(client: TestClient, known: dict[str, Any], summary: Summary) -> None:
    schema = client.app.openapi()  # type: ignore[attr-defined]
    for template, operations in schema["paths"].items():
        path = template
        for name, value in known.items():
            path = path.replace(f"{{{name}}}", str(value))
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            for what, body in HOSTILE_BODIES.items():
                summary.cases += 1
                response = client.request(
                    method,
                    path,
                    content=body,
                    headers={"Content-Type": "application/json", **Tokens().admin},
                )
                summary.statuses[response.status_code] += 1
                if response.status_code >= 500 or "error" not in response.json():
                    summary.failures.setdefault(
                        (f"{method.upper()} {template}", what),
                        f"{response.status_code}: {response.text[:300]}",
                    )


def served(app: Any) -> TestClient:
    """The app started (its lifespan), answering 500 for what it raises, as a server does."""
    return TestClient(app, raise_server_exceptions=False)


Started = Iterator[tuple[TestClient, dict[str, Any]]]
"""A started service, and the path parameters' values it holds."""


def registration(settings: Settings, clock: FakeClock, tokens: Tokens, nats_url: str) -> Started:
    from baro_registration.main import create_app
    from registration_builders import EDITION, registration_body

    with served(create_app(settings, run_relay=False, clock=clock)) as client:
        assert client.post("/editions", json=EDITION, headers=tokens.admin).status_code == 201
        registered = client.post(
            "/editions/2027/registrations", json=registration_body(), headers=tokens.admin
        )
        assert registered.status_code == 201, registered.text
        yield client, {"year": 2027, "registration_id": registered.json()["registration_id"]}


def audit_ingest(settings: Settings, clock: FakeClock, tokens: Tokens, nats_url: str) -> Started:
    from audit_builders import (
        edition_opened,
        probe_body,
        referential_body,
        registration_closed,
        structure_registered,
    )
    from baro_audit_ingest.consumers import apply_registration_event
    from baro_audit_ingest.main import create_app

    clock.now = clock.now.replace(month=4, day=12)
    app = create_app(settings, run_relay=False, run_consumer=False, clock=clock)
    with served(app) as client:
        application = client.app.state.application  # type: ignore[attr-defined]
        structure = structure_registered()
        for event in (edition_opened(), structure, registration_closed()):
            apply_registration_event(application, event)
        client.put("/editions/2027/referential", json=referential_body(), headers=tokens.admin)
        probe = probe_body(structure)
        recorded = client.post(
            "/editions/2027/probes", json=probe, headers=tokens.headers(Role.AUDITOR)
        )
        assert recorded.status_code == 201, recorded.text
        yield (
            client,
            {
                "year": 2027,
                "registration_id": str(structure.registration_id),
                "probe_id": probe["probe_id"],
            },
        )


def scoring(settings: Settings, clock: FakeClock, tokens: Tokens, nats_url: str) -> Started:
    from baro_scoring.main import create_app
    from scoring_builders import Events, campaign, publish_now, scores_when

    clock.now = clock.now.replace(month=6, day=15)
    with served(create_app(settings, clock=clock)) as client:
        published, structures = campaign(Events())
        publish_now(nats_url, *published)
        for structure in structures:
            scores_when(client, tokens.admin, structure.registration_id, probes=2)
        yield client, {"year": 2027, "registration_id": str(structures[0].registration_id)}


def billing(settings: Settings, clock: FakeClock, tokens: Tokens, nats_url: str) -> Started:
    from baro_billing.consumers import apply_registration_event
    from baro_billing.main import create_app
    from billing_builders import edition_opened, registered

    clock.now = clock.now.replace(year=2025, month=2, day=10)
    app = create_app(settings, run_relay=False, run_consumer=False, clock=clock)
    with served(app) as client:
        application = client.app.state.application  # type: ignore[attr-defined]
        for event in (edition_opened(), registered()):
            apply_registration_event(application, event)
        (quote,) = application.quotes(2025)
        issued = application.issue(quote.id, "finance@afnor")
        yield client, {"year": 2025, "quote_id": str(quote.id), "number": issued.number}


def reporting(settings: Settings, clock: FakeClock, tokens: Tokens, nats_url: str) -> Started:
    """Without a publication: rendering an edition's reports would take most of the run."""
    from baro_reporting.main import create_app

    with served(create_app(settings)) as client:
        yield client, {"year": 2027}


SERVICES: dict[str, Callable[..., Started]] = {
    "registration": registration,
    "audit-ingest": audit_ingest,
    "scoring": scoring,
    "billing": billing,
    "reporting": reporting,
}


MORE_CALLERS = {"audit-ingest": (Role.AUDITOR,)}
"""Roles besides admin whose routes admin may not call (probes are the auditors')."""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", list(SERVICES))
def test_no_input_makes_a_server_error_or_breaks_the_schema(
    service: str,
    postgres_server: str,
    nats_url: str,
    clock: FakeClock,
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BARO_REPORTING_WORKERS", "1")
    start = contextlib.contextmanager(SERVICES[service])
    with contextlib.contextmanager(fresh_database)(postgres_server) as url:
        settings = settings_of(service, url, nats_url)
        with start(settings, clock, tokens, nats_url) as (client, known):
            callers = {"admin": tokens.admin, "anonymous": {}}
            callers.update(
                {role.value: tokens.headers(role) for role in MORE_CALLERS.get(service, ())}
            )
            summary = fuzz(service, client, known, callers)
            hostile_bodies(client, known, summary)
    print(summary.line())
    for (operation, where), failure in sorted(summary.failures.items()):
        print(f"  {operation} [{where}]: {failure}")
    assert not summary.failures, summary.line()
