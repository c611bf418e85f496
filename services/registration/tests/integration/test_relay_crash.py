"""Kill the relay (SIGKILL) part-way through a burst: after a restart every event is on the
stream exactly once and in order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sysconfig
import threading
import time
from pathlib import Path

import asyncpg
import nats
import pytest

from baro_chassis.postgres import eventsourcing_env
from baro_chassis.settings import Settings
from baro_registration.application import RegistrationApplication
from registration_builders import open_edition_directly, register_directly

pytestmark = pytest.mark.integration

BURST = 600


def start_relay(settings: Settings) -> subprocess.Popen[bytes]:
    script = Path(sysconfig.get_path("scripts")) / "baro-registration"
    env = {
        **os.environ,
        "NATS_URL": settings.nats_url,
        "REGISTRATION_DATABASE_URL": settings.database_url,
    }
    return subprocess.Popen([str(script), "relay"], env=env)


def write_burst(application: RegistrationApplication) -> None:
    for number in range(BURST):
        register_directly(application, number)


async def stream_count(js: nats.js.JetStreamContext) -> int:
    return int((await js.stream_info("REGISTRATION")).state.messages)


async def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_relay_killed_mid_burst_resumes_without_loss_or_duplicate(
    settings_for: Settings,
) -> None:
    application = RegistrationApplication(env=eventsourcing_env(settings_for.database_url))
    open_edition_directly(application)
    nc = await nats.connect(settings_for.nats_url)
    js = nc.jetstream()
    relay = start_relay(settings_for)
    writer = threading.Thread(target=write_burst, args=(application,))
    try:

        async def published(count: int) -> bool:
            try:
                return await stream_count(js) >= count
            except nats.js.errors.NotFoundError:
                return False

        # The burst starts once the relay is up (it has published the edition).
        await wait_until(lambda: published(1), 30, "the relay to start")
        writer.start()
        await wait_until(lambda: published(60), 30, "the relay to publish part of the burst")
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
        at_kill = await stream_count(js)
        assert writer.is_alive(), "the burst should still be being written when the relay dies"
        assert at_kill < BURST + 1

        relay = start_relay(settings_for)
        writer.join(60)
        last_id = application.recorder.max_notification_id()
        db = await asyncpg.connect(settings_for.database_url)

        async def caught_up() -> bool:
            position = await db.fetchval(
                "SELECT position FROM relay_positions WHERE relay = 'registration'"
            )
            return position == last_id

        await wait_until(caught_up, 60, "the restarted relay to catch up")
        await db.close()

        assert await stream_count(js) == BURST + 1
        sub = await js.subscribe("registration.>", ordered_consumer=True)
        ids = [(await sub.next_msg(timeout=5)).headers["Nats-Msg-Id"] for _ in range(BURST + 1)]
        positions = [int(i.split(":")[1]) for i in ids]
        assert positions == sorted(set(positions)), "every event once, in the order it was stored"
        stored = [
            n.id
            for n in application.recorder.select_notifications(start=1, limit=10_000)
            if n.topic.endswith(("Registration.Registered", "Edition.Opened"))
        ]
        assert positions == stored
    finally:
        writer.join(60)
        if relay.poll() is None:
            relay.send_signal(signal.SIGTERM)
            relay.wait(20)
        await nc.close()
        application.close()
