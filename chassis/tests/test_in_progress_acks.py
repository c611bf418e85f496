"""A consumer whose handler works for longer than the ack wait keeps its message: it is
applied once, not redelivered meanwhile (a close of 40,000 structures takes minutes)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, date, datetime

import pytest

from baro_chassis.consumers import in_order_consumer
from baro_chassis.testing import publish_events
from baro_contracts import registration_v1 as reg

pytestmark = pytest.mark.integration

ACK_WAIT = 1.0


def opened() -> reg.EditionOpened:
    return reg.EditionOpened(
        event_id="registration:1",
        occurred_at=datetime(2027, 1, 2, tzinfo=UTC),
        edition=2027,
        registration_deadline=date(2027, 3, 15),
        audit_window_start=date(2027, 4, 1),
        audit_window_end=date(2027, 6, 30),
        free_places=2,
    )


def test_a_handler_longer_than_the_ack_wait_is_applied_once(nats_url: str) -> None:
    calls: list[int] = []
    done = threading.Event()

    def apply(event: object) -> None:
        calls.append(1)
        time.sleep(3 * ACK_WAIT)  # the long work under test: three ack waits
        done.set()

    async def scenario() -> None:
        await publish_events(nats_url, [opened()])
        broker = in_order_consumer(
            nats_url,
            events="registration.v1",
            durable="in-progress-test",
            apply=apply,
            not_yet=LookupError,
            ack_wait_seconds=ACK_WAIT,
        )
        await broker.start()
        try:
            assert await asyncio.to_thread(done.wait, 30), "the handler never finished"
            # A redelivery would come within one ack wait of the last in-progress report.
            stream = broker._connection.jetstream()  # type: ignore[union-attr]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                info = await stream.consumer_info("REGISTRATION", "in-progress-test")
                if info.num_ack_pending == 0:
                    break
                await asyncio.sleep(0.05)
            assert info.num_ack_pending == 0, "the message was never acknowledged"
            assert info.num_redelivered == 0
        finally:
            await broker.stop()

    asyncio.run(scenario())
    assert calls == [1]
