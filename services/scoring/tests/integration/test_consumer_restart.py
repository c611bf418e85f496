"""A scoring process killed mid-stream (SIGKILL: no clean shutdown) and restarted applies
every event exactly once: the same numbers as computing from the events directly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import asyncpg
import nats
import pytest

from baro_chassis.embedded import free_port, stop_process
from baro_chassis.settings import Settings
from baro_chassis.stack import wait_healthy
from baro_chassis.testing import TEST_JWT_SECRET
from baro_contracts.base import ContractEvent
from baro_scoring.consumers import backlog
from baro_scoring.document import line_document, structure_document
from baro_scoring.facts import EditionFacts
from baro_scoring.results import edition_results
from scoring_builders import Events, publish

pytestmark = pytest.mark.integration

STRUCTURES = 800


def start_scoring(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    script = Path(sysconfig.get_path("scripts")) / "baro-scoring"
    env = {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "SCORING_DATABASE_URL": settings.database_url,
        "BARO_JWT_SECRET": TEST_JWT_SECRET,
    }
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--no-relay"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_healthy(port, process)
    return process


async def positions(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('live.consumer_positions')")
        if exists is None:
            return {}
        rows = await conn.fetch("SELECT consumer, stream_sequence FROM live.consumer_positions")
        return {row["consumer"]: row["stream_sequence"] for row in rows}
    finally:
        await conn.close()


async def waiting(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return sum((await backlog(nc)).values())
    finally:
        await nc.close()


async def stored(database_url: str) -> tuple[int, dict[str, dict[str, object]]]:
    conn = await asyncpg.connect(database_url)
    try:
        facts = await conn.fetchval("SELECT count(*) FROM live.facts")
        rows = await conn.fetch("SELECT registration_id, line FROM live.structure_results")
        return facts, {str(r["registration_id"]): json.loads(r["line"]) for r in rows}
    finally:
        await conn.close()


def test_a_consumer_killed_mid_stream_applies_everything_exactly_once(
    scoring_settings: Settings, nats_url: str
) -> None:
    events = Events()
    published: list[ContractEvent] = [events.edition_opened(), events.referential()]
    for number in range(STRUCTURES):
        town = events.structure(f"Town {number}", certified=number % 3 == 0)
        first = events.probe(
            town, "phone", {"PHO-ACC-01": number % 2 == 0, "PHO-ACC-02": number % 7}
        )
        published += [town, events.plan(town, "phone", "email"), first]
        published.append(events.probe(town, "email", slot=2))
        if number % 10 == 0:
            published.append(events.correction(first, answers={"PHO-PRO-01": "partial"}))
    asyncio.run(publish(nats_url, published))
    registration = sum(1 for e in published if e.event_id.startswith("registration:"))
    totals = {"scoring-registration": registration, "scoring-audit": len(published) - registration}

    port = free_port()
    process = start_scoring(scoring_settings, port)
    try:
        deadline = time.monotonic() + 60
        while not (seen := asyncio.run(positions(scoring_settings.database_url))).get(
            "scoring-audit"
        ):
            assert time.monotonic() < deadline, "the consumer never started"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert seen != totals, "the consumer finished before it could be killed"

        process = start_scoring(scoring_settings, port)
        # Caught up when nothing is waiting or unacknowledged (what the killed process had
        # taken is redelivered once its acknowledgement time has passed).
        deadline = time.monotonic() + 90
        while asyncio.run(waiting(nats_url)):
            assert time.monotonic() < deadline, "the restarted consumer did not catch up"
            time.sleep(0.2)
        assert asyncio.run(positions(scoring_settings.database_url)) == totals
    finally:
        stop_process(process)

    facts, lines = asyncio.run(stored(scoring_settings.database_url))
    assert facts == len(published)
    expected = {
        str(result.registration_id): line_document(structure_document(result))
        for result in edition_results(EditionFacts(2027).add_all(published))
    }
    assert lines == expected
