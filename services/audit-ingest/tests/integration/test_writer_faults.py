"""Probes posted while PostgreSQL drops the writer's connections (pg_terminate_backend, as a
restart or a failover does): clients that retry what failed get every probe recorded once,
and no retry is refused as a conflict. (Before the fix, a failed batch left its staged probes
in the writer's structures: retries were refused 409, or saved with a gap in the structure's
events, which then could not be read at all.)"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from audit_builders import probe_body, registration_closed, structure_registered
from baro_chassis.settings import Settings, database_url_for
from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel

pytestmark = pytest.mark.integration

RETRY_FOR_SECONDS = 60


class ConnectionKiller:
    """Terminates every other connection to the service's database, every 50 ms for
    `seconds` (connections opened between two rounds get some work done)."""

    def __init__(self, database_url: str, seconds: float) -> None:
        self.database = urlsplit(database_url).path.lstrip("/")
        self.admin_url = database_url_for(database_url, "postgres")
        self.seconds = seconds
        self.killed = 0

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                time.sleep(0.05)
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.database,),
                ).fetchall()
                self.killed += len(rows)


def post_until_answered(
    client: TestClient, headers: dict[str, str], body: dict[str, Any]
) -> list[int]:
    """POST the same bytes until an answer is not a server error, as a capture app does."""
    statuses: list[int] = []
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    while time.monotonic() < deadline:
        try:
            status = client.post("/editions/2027/probes", json=body, headers=headers).status_code
        except Exception:  # the test client raises what the server answered 500 for
            status = 500
        statuses.append(status)
        if status < 500:
            break
        time.sleep(0.05)
    time.sleep(0.02)  # the next probe a little later: the burst spans the faults
    return statuses


def test_probes_posted_while_connections_drop_are_each_recorded_once(
    client: TestClient,
    tokens: Tokens,
    feed: Any,
    edition: reg.EditionOpened,
    audit_settings: Settings,
) -> None:
    structures = [structure_registered() for _ in range(10)]
    feed(*structures, registration_closed())
    bodies = []
    for structure in structures:
        plan = client.get(
            f"/editions/2027/plans/{structure.registration_id}", headers=tokens.auditor
        ).json()
        bodies += [probe_body(structure, Channel(p["channel"])) for p in plan["probes"]]
    # Structures interleaved, as capture apps send them; the first freezes the referential.
    bodies = bodies[::2] + bodies[1::2]
    first, *burst = bodies
    assert post_until_answered(client, tokens.auditor, first) == [201]

    killer = ConnectionKiller(audit_settings.database_url, seconds=3)
    killing = threading.Thread(target=killer.run)
    killing.start()
    with ThreadPoolExecutor(8) as clients:
        answers = list(clients.map(lambda b: post_until_answered(client, tokens.auditor, b), burst))
    killing.join()

    every_status = Counter(status for statuses in answers for status in statuses)
    assert killer.killed > 0
    assert 409 not in every_status, every_status
    assert [statuses[-1] for statuses in answers if statuses[-1] not in (200, 201)] == []
    recorded: list[str] = []
    for structure in structures:  # each plan reads back whole: no event of it is missing
        plan = client.get(
            f"/editions/2027/plans/{structure.registration_id}", headers=tokens.auditor
        )
        assert plan.status_code == 200, plan.text
        recorded += [p["probe_id"] for p in plan.json()["probes"] if p["probe_id"]]
    assert sorted(recorded) == sorted(b["probe_id"] for b in bodies)
