"""The relay heals by itself: its PostgreSQL session terminated, PostgreSQL restarted, NATS
restarted, or (for a standby) the leader's session killed, every event stored reaches the
stream exactly once, without anyone restarting anything."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sysconfig
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import nats
import pytest

from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres
from baro_chassis.postgres import ensure_database
from baro_chassis.relay import Relay, RelayState
from baro_chassis.settings import Settings, database_url_for
from baro_chassis.testing import settings_of
from baro_registration.application import RegistrationApplication
from baro_registration.main import build_application, build_relay
from registration_builders import open_edition_directly, register_directly

pytestmark = pytest.mark.integration

RECOVERY_SECONDS = 30.0


async def until(
    condition: Callable[[], bool], what: str, timeout: float = RECOVERY_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)


async def write(application: RegistrationApplication, numbers: range) -> None:
    for number in numbers:
        await asyncio.to_thread(register_directly, application, number)


def published_ids(application: RegistrationApplication, relay: Relay) -> list[str]:
    """The message ids the relay owes the stream: every stored event it publishes."""
    return [
        f"registration:{n.id}"
        for n in application.recorder.select_notifications(start=1, limit=100_000)
        if relay.translate.publishes(n.topic)
    ]


async def stream_ids(nats_url: str) -> list[str]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            count = (await js.stream_info("REGISTRATION")).state.messages
        except nats.js.errors.NotFoundError:
            return []
        sub = await js.subscribe("registration.>", ordered_consumer=True)
        return [(await sub.next_msg(timeout=5)).headers["Nats-Msg-Id"] for _ in range(count)]
    finally:
        await nc.close()


async def assert_all_on_stream_once(
    nats_url: str, application: RegistrationApplication, relay: Relay
) -> None:
    """Every stored event on the stream, once, in the order stored, within the bound."""
    expected = published_ids(application, relay)
    deadline = time.monotonic() + RECOVERY_SECONDS
    while (on_stream := await stream_ids(nats_url)) != expected:
        assert on_stream == expected[: len(on_stream)], "an event twice or out of order"
        assert time.monotonic() < deadline, f"{len(on_stream)} of {len(expected)} on the stream"
        await asyncio.sleep(0.2)


class Running:
    """A relay running in a task of this loop, as a service runs it."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(relay.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def relay_session_pid(relay: Relay) -> int:
    assert relay._db is not None
    return int(relay._db.get_server_pid())


async def terminate(database_url: str, pid: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


@pytest.fixture
async def registration(
    settings_for: Settings,
) -> AsyncIterator[RegistrationApplication]:
    application = await asyncio.to_thread(build_application, settings_for)
    await asyncio.to_thread(open_edition_directly, application)
    yield application
    application.close()


async def test_relay_resumes_when_its_database_session_is_terminated(
    settings_for: Settings, registration: RegistrationApplication
) -> None:
    running = Running(build_relay(settings_for, registration))
    try:
        await until(lambda: running.relay.state is RelayState.LEADER, "the relay leads")
        await write(registration, range(50))
        await terminate(settings_for.database_url, await relay_session_pid(running.relay))
        await write(registration, range(50, 100))
        await assert_all_on_stream_once(settings_for.nats_url, registration, running.relay)
        assert not running.task.done()
        assert running.relay.state is RelayState.LEADER
    finally:
        await running.close()


def relay_process(settings: Settings) -> subprocess.Popen[bytes]:
    """`baro-registration relay`, as a service's separate relay runs."""
    script = Path(sysconfig.get_path("scripts")) / "baro-registration"
    env = {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "REGISTRATION_DATABASE_URL": settings.database_url,
    }
    return subprocess.Popen([str(script), "relay"], env=env)


async def test_a_standby_takes_over_when_the_leader_dies(
    settings_for: Settings, registration: RegistrationApplication
) -> None:
    leader = relay_process(settings_for)
    # The process leads (it publishes the edition); the one started here then waits.
    deadline = time.monotonic() + RECOVERY_SECONDS
    while not await stream_ids(settings_for.nats_url):
        assert time.monotonic() < deadline, "the relay process did not start"
        await asyncio.sleep(0.1)
    standby = Running(build_relay(settings_for, registration))
    try:
        await until(lambda: standby.relay.state is RelayState.STANDBY, "the standby waits")
        await write(registration, range(20))
        leader.send_signal(signal.SIGKILL)  # its session dies with it, and the lock
        leader.wait(10)
        await write(registration, range(20, 40))
        await until(lambda: standby.relay.state is RelayState.LEADER, "the standby takes over")
        await assert_all_on_stream_once(settings_for.nats_url, registration, standby.relay)
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(10)
        await standby.close()


async def test_after_its_session_is_killed_one_relay_of_two_leads_and_none_is_lost(
    settings_for: Settings, registration: RegistrationApplication
) -> None:
    first = Running(build_relay(settings_for, registration))
    await until(lambda: first.relay.state is RelayState.LEADER, "the first relay leads")
    second = Running(build_relay(settings_for, registration))
    relays = (first.relay, second.relay)
    try:
        await until(lambda: second.relay.state is RelayState.STANDBY, "the second waits")
        await terminate(settings_for.database_url, await relay_session_pid(first.relay))
        await write(registration, range(40))
        await assert_all_on_stream_once(settings_for.nats_url, registration, first.relay)
        states = sorted(str(relay.state) for relay in relays)
        assert states == ["leader", "standby"], states
    finally:
        await second.close()
        await first.close()


async def test_relay_resumes_after_nats_restarts(
    database_url: str, restartable_nats: EmbeddedNats
) -> None:
    settings = settings_of("registration", database_url, restartable_nats.url)
    application = await asyncio.to_thread(build_application, settings)
    await asyncio.to_thread(open_edition_directly, application)
    running = Running(build_relay(settings, application))
    try:
        await write(application, range(20))
        await assert_all_on_stream_once(settings.nats_url, application, running.relay)
        restartable_nats.stop()
        await write(application, range(20, 60))  # stored while NATS is down
        restartable_nats.start()
        await write(application, range(60, 80))
        await assert_all_on_stream_once(settings.nats_url, application, running.relay)
        assert not running.task.done()
    finally:
        await running.close()
        application.close()


async def test_relay_resumes_after_postgresql_restarts(
    nats_url: str, restartable_postgres: EmbeddedPostgres
) -> None:
    database_url = database_url_for(restartable_postgres.url, "registration")
    ensure_database(database_url)
    settings = settings_of("registration", database_url, nats_url)
    application = await asyncio.to_thread(build_application, settings)
    await asyncio.to_thread(open_edition_directly, application)
    running = Running(build_relay(settings, application))
    try:
        await write(application, range(100))  # some still unpublished when it stops
        await asyncio.to_thread(restartable_postgres.stop)
        await until(lambda: running.relay.state is RelayState.CONNECTING, "the relay notices")
        await asyncio.to_thread(restartable_postgres.start)
        # The application's pooled connections died too: they are replaced as taken.
        await write(application, range(100, 150))
        await assert_all_on_stream_once(nats_url, application, running.relay)
        assert running.relay.state is RelayState.LEADER
    finally:
        await running.close()
        application.close()
