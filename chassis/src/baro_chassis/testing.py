"""pytest fixtures: a real NATS JetStream and a real PostgreSQL for the whole suite.

Order of choice: NATS_URL / DATABASE_URL when set; testcontainers when a Docker engine
answers; otherwise the embedded wheels, started on loopback and stopped at the end.
Each test that asks for `database_url` gets a fresh database; `nats_url` comes with no
streams, so no test sees another's messages or duplicate-detection window.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from baro_chassis.auth import Role, issue_token
from baro_chassis.consumers import ensure_streams
from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres
from baro_chassis.postgres import drop_database, ensure_database
from baro_chassis.settings import Settings, database_url_for
from baro_contracts.base import ContractEvent
from baro_contracts.streams import STREAMS

TEST_JWT_SECRET = "test-only-jwt-secret-for-the-suite-000000000"


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="baro-test-servers-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server(servers_dir: Path) -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    if docker_engine_answers():
        from testcontainers.community.nats import NatsContainer

        with NatsContainer("nats:2.11-alpine", jetstream=True) as container:
            yield container.nats_uri()
        return
    server = EmbeddedNats(servers_dir / "nats").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[str]:
    """The URL of the server's maintenance database."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    if docker_engine_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:17-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    server = EmbeddedPostgres(servers_dir / "postgres", durable=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def restartable_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A NATS server of the test's own, to stop and start again (`.stop()`, `.start()`: same
    port, same data) while the code under test runs."""
    server = EmbeddedNats(tmp_path / "own-nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def restartable_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of the test's own, to stop (a fast shutdown, as `pg_ctl restart
    -m fast` does) and start again; `.url` is its maintenance database."""
    server = EmbeddedPostgres(tmp_path / "own-postgres", durable=False).start()
    try:
        yield server
    finally:
        server.stop()


def fresh_database(postgres_server: str) -> Iterator[str]:
    url = database_url_for(postgres_server, f"test_{uuid.uuid4().hex[:12]}")
    ensure_database(url)
    yield url
    drop_database(url)


@pytest.fixture
def database_url(postgres_server: str) -> Iterator[str]:
    yield from fresh_database(postgres_server)


async def delete_all_streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name:
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


@pytest.fixture
def nats_url(nats_server: str) -> str:
    asyncio.run(delete_all_streams(nats_server))
    return nats_server


def settings_of(service: str, database_url: str, nats_url: str) -> Settings:
    return Settings(
        service=service,
        nats_url=nats_url,
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        environment="test",
    )


@pytest.fixture
def settings_for(database_url: str, nats_url: str) -> Settings:
    """Settings of the registration service under test: a fresh database, NATS with no streams."""
    return settings_of("registration", database_url, nats_url)


@pytest.fixture
def second_database_url(postgres_server: str) -> Iterator[str]:
    """Another fresh database, for a second service in the same test."""
    yield from fresh_database(postgres_server)


async def read_stream(url: str, stream: str, expected: int, wait_seconds: float = 15) -> list[Msg]:
    """Every message on `stream` from the start, once at least `expected` are there."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + wait_seconds
        while (count := (await js.stream_info(stream)).state.messages) < expected:
            assert time.monotonic() < deadline, f"{stream} holds {count} of {expected} messages"
            await asyncio.sleep(0.05)
        subjects = (await js.stream_info(stream)).config.subjects or [">"]
        sub = await js.subscribe(subjects[0], ordered_consumer=True)
        return [await sub.next_msg(timeout=5) for _ in range(count)]
    finally:
        await nc.close()


class Tokens:
    """Authorization headers for each role, and for a structure's own registration."""

    def headers(
        self,
        *roles: Role,
        registration_id: uuid.UUID | None = None,
        ttl: timedelta = timedelta(hours=1),
    ) -> dict[str, str]:
        token = issue_token(TEST_JWT_SECRET, roles=roles, registration_id=registration_id, ttl=ttl)
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.headers(Role.ADMIN)

    @property
    def frontend(self) -> dict[str, str]:
        return self.headers(Role.FRONTEND)

    @property
    def finance(self) -> dict[str, str]:
        return self.headers(Role.FINANCE)

    @property
    def auditor(self) -> dict[str, str]:
        return self.headers(Role.AUDITOR)

    def structure(self, registration_id: uuid.UUID | str) -> dict[str, str]:
        return self.headers(registration_id=uuid.UUID(str(registration_id)))


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 2, 1, 9, 0, tzinfo=UTC))


async def publish_events(
    nats_url: str, events: Iterable[ContractEvent], *, msg_id: bool = True
) -> None:
    """Publish contract events as their producers' relays do: to their streams (created if
    missing), with Nats-Msg-Id = the event id; with msg_id=False, without one (JetStream
    then cannot drop a duplicate: the consumers must)."""
    events = list(events)
    await ensure_streams(nats_url, *{STREAMS[event.service] for event in events})
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for event in events:
            headers = event.headers()
            if not msg_id:
                del headers["Nats-Msg-Id"]
            await js.publish(event.subject, event.model_dump_json().encode(), headers=headers)
    finally:
        await nc.close()


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """`check()`'s first truthy answer, asked again (also after an AssertionError) until
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(0.05)
