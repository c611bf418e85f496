"""Requests are counted by route template, so a dashboard has one series per route (not one
per registration id, nor per path a scanner tries)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from baro_chassis.metrics import RequestMetrics

SERVICE = "metrics-unit-test"


def count(route: str, status: str) -> float:
    labels = {"service": SERVICE, "method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("baro_http_requests_total", labels) or 0.0


def test_requests_are_counted_by_template_and_unknown_paths_together() -> None:
    app = FastAPI()
    app.add_middleware(RequestMetrics, service=SERVICE)

    @app.get("/editions/{year}/registrations/{registration_id}")
    async def registration(year: int, registration_id: str) -> dict[str, str]:
        return {"id": registration_id}

    template = "/editions/{year}/registrations/{registration_id}"
    client = TestClient(app)
    assert client.get("/editions/2027/registrations/a").status_code == 200
    assert client.get("/editions/2027/registrations/b").status_code == 200
    assert client.get("/editions/not-a-year/registrations/b").status_code == 422
    assert client.get("/wp-admin/1").status_code == 404
    assert client.get("/wp-admin/2").status_code == 404

    assert count(template, "200") == 2
    assert count(template, "422") == 1
    assert count("unmatched", "404") == 2
    assert (
        REGISTRY.get_sample_value(
            "baro_http_request_duration_seconds_count",
            {"service": SERVICE, "method": "GET", "route": template, "status": "200"},
        )
        == 2
    )
