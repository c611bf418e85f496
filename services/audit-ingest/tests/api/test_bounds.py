"""What an admin or an auditor sends is bounded: an absurd weight, measure, text or probe
count is a 422 naming where and the limit, and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit_builders import assert_refused, referential_body
from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg

pytestmark = pytest.mark.integration


def absurd(change: str) -> dict[str, Any]:
    body = referential_body()
    rings = next(i for i in body["items"] if i["code"] == "PHO-ACC-02")
    if change == "weight":
        body["items"][0]["weight"] = "1e30"
    elif change == "measure":
        rings["answer"]["maximum"] = 10**30
    elif change == "label":
        body["items"][0]["label"] = "x" * 501
    elif change == "determinant-label":
        body["determinants"][0]["label"] = "x" * 501
    return body


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ("weight", ["items.0.weight", "at most 100"]),
        ("measure", ["PHO-ACC-02", "within ±1000000000"]),
        ("label", ["items.0.label", "500 characters at most"]),
        ("determinant-label", ["determinants.0.label", "500 characters at most"]),
    ],
)
def test_an_absurd_referential_is_refused_and_the_version_is_unchanged(
    client: TestClient,
    tokens: Tokens,
    edition: reg.EditionOpened,
    change: str,
    fragments: list[str],
) -> None:
    refused = client.put("/editions/2027/referential", json=absurd(change), headers=tokens.admin)
    assert_refused(refused, 422, *fragments)
    latest = client.get("/editions/2027/referential", headers=tokens.auditor).json()
    assert latest["latest_version"] == 1


def test_a_probe_count_out_of_range_is_refused(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    body = {"channel_mix": {"phone": 10**9}, "seed": "s", "auditors": ["MC-001"]}
    refused = client.put("/editions/2027/plan-settings", json=body, headers=tokens.admin)
    assert_refused(refused, 422, "channel_mix.phone", "less than or equal to 50")
    long_id = {**body, "channel_mix": {"phone": 4}, "auditors": ["x" * 65]}
    refused = client.put("/editions/2027/plan-settings", json=long_id, headers=tokens.admin)
    assert_refused(refused, 422, "auditors.0", "at most 64 characters")


def test_a_referential_too_large_to_publish_is_refused_and_the_version_is_unchanged(
    client: TestClient, tokens: Tokens, edition: reg.EditionOpened
) -> None:
    """Each text within its bound and the body within 1 MiB, but together more than an event
    may hold (NATS refuses messages over 1 MiB, and the relay would retry it forever)."""
    body = referential_body()
    numbers: dict[str, int] = {}
    items = []
    for k in range(1500):
        base = body["items"][k % len(body["items"])]
        prefix = base["code"][:8]
        numbers[prefix] = numbers.get(prefix, 99) + 1
        items.append({**base, "code": f"{prefix}{numbers[prefix]}", "label": "é" * 250})
    body["items"] = items
    refused = client.put("/editions/2027/referential", json=body, headers=tokens.admin)
    assert_refused(refused, 413, "bytes, over the 524,288 an event may have")
    latest = client.get("/editions/2027/referential", headers=tokens.auditor).json()
    assert latest["latest_version"] == 1
