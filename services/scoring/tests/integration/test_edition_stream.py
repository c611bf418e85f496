"""Reading an edition's retained messages back through nats-py, against a real NATS
JetStream server: every stored message of the edition, in stream order, registration's
before audit-ingest's; nothing published after the read began; nothing from a missing
stream or edition."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.aio.msg import Msg

from baro_chassis.consumers import ensure_streams
from baro_chassis.nats import connect
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM
from baro_scoring.edition_stream import edition_size, read_edition

pytestmark = pytest.mark.integration


async def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    await ensure_streams(url, REGISTRATION_STREAM, AUDIT_STREAM)
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for subject, body in messages:
            await js.publish(subject, body)
    finally:
        await nc.close()


async def read(url: str, edition: int, during: list[tuple[str, bytes]] | None = None) -> list:
    """(subject, body, stream sequence) of every message `read_edition` gives, and what
    `edition_size` said first; `during` is published as the first message is taken."""
    nc = await connect(url, "test-edition-stream")
    taken: list[tuple[str, bytes, int]] = []
    late: list[asyncio.Task[None]] = []

    def take(message: Msg) -> None:
        if during and not late:
            late.append(asyncio.create_task(publish(url, during)))
        taken.append((message.subject, message.data, message.metadata.sequence.stream))

    try:
        size = await edition_size(nc, edition)
        count = await read_edition(nc, edition, take)
        await asyncio.gather(*late)
    finally:
        await nc.close()
    assert count == len(taken)
    return [size, taken]


def test_every_stored_message_of_the_edition_in_stream_order(nats_url: str) -> None:
    messages = []
    for n in range(1, 400):
        edition = 2027 if n % 5 else 2028  # another edition's messages interleaved
        service = "audit" if n % 3 else "registration"
        messages.append((f"{service}.v1.{edition}.x", f'{{"n":{n},"text":"é\\r\\nMSG"}}'.encode()))
    asyncio.run(publish(nats_url, messages))

    size, taken = asyncio.run(read(nats_url, 2027))

    ours = [m for m in messages if ".2027." in m[0]]
    registration = [m for m in ours if m[0].startswith("registration.")]
    audit = [m for m in ours if m[0].startswith("audit.")]
    assert size == len(ours)
    assert [(s, b) for s, b, _ in taken] == registration + audit
    sequences = [q for s, _, q in taken if s.startswith("audit.")]
    assert sequences == sorted(sequences)


def test_messages_published_after_the_read_began_are_left_alone(nats_url: str) -> None:
    asyncio.run(publish(nats_url, [("audit.v1.2027.x", b'{"n":%d}' % n) for n in range(50)]))
    late = [("audit.v1.2027.x", b'{"late":true}')] * 5
    size, taken = asyncio.run(read(nats_url, 2027, during=late))
    assert size == len(taken) == 50
    assert all(b"late" not in body for _, body, _ in taken)


def test_a_missing_stream_or_edition_reads_nothing(nats_url: str) -> None:
    assert asyncio.run(read(nats_url, 2027)) == [0, []]
    asyncio.run(publish(nats_url, [("audit.v1.2027.x", b"{}")]))
    assert asyncio.run(read(nats_url, 1999)) == [0, []]
