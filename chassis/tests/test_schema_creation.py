"""A service's processes start together (the audit-ingest API and its probe writer, API
workers, a separate relay), each creating its database and tables if needed: none may fail
because another is creating them at the same moment."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from queue import Queue

import asyncpg
import psycopg
import pytest

from baro_chassis.eventstore import TracedApplication
from baro_chassis.postgres import create_tables, drop_database, open_application
from baro_chassis.settings import database_url_for

PROCESSES = 3


@pytest.fixture
def new_database_url(postgres_server: str) -> Iterator[str]:
    """The URL of a database nobody has created yet."""
    url = database_url_for(postgres_server, f"test_{uuid.uuid4().hex[:12]}")
    yield url
    drop_database(url)


async def create_positions_table(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await create_tables(
            conn,
            "CREATE SCHEMA IF NOT EXISTS live",
            "CREATE TABLE IF NOT EXISTS live.positions (name text PRIMARY KEY, position bigint)",
        )
    finally:
        await conn.close()


def start_like_a_service(database_url: str, barrier: Barrier, outcomes: Queue[str]) -> None:
    barrier.wait()
    try:
        open_application(TracedApplication, database_url).close()
        asyncio.run(create_positions_table(database_url))
        outcomes.put("opened")
    except Exception as exc:  # reported to the test, which names it
        outcomes.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_database_together_all_start(new_database_url: str) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    outcomes = context.Queue()
    processes = [
        context.Process(target=start_like_a_service, args=(new_database_url, barrier, outcomes))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert sorted(outcomes.get(timeout=5) for _ in processes) == ["opened"] * PROCESSES

    with psycopg.connect(new_database_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT schemaname || '.' || tablename FROM pg_tables "
                "WHERE schemaname IN ('public', 'live')"
            )
        }
    assert {"public.tracedapplication_events", "live.positions"} <= tables
