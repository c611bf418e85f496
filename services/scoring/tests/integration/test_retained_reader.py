"""The replay's lean reader against a real NATS JetStream server: every stored message of a
subject, in stream order with its sequence, across many pull batches; nothing published
after the read's range was taken; what a missing stream or subject gives."""

from __future__ import annotations

import asyncio

import nats
import pytest

from baro_chassis.consumers import ensure_streams
from baro_contracts.streams import AUDIT_STREAM
from baro_scoring import retained
from baro_scoring.retained import RetainedReader, StreamReadError, stream_position

pytestmark = pytest.mark.integration


async def publish(url: str, messages: list[tuple[str, bytes, dict[str, str] | None]]) -> None:
    await ensure_streams(url, AUDIT_STREAM)
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for subject, body, headers in messages:
            await js.publish(subject, body, headers=headers)
    finally:
        await nc.close()


def read_all(url: str, subject: str, first: int = 1, last: int | None = None) -> list[tuple]:
    read: list[tuple[str, bytes, int]] = []
    with RetainedReader(url) as reader:
        found = reader.stream_range("AUDIT", subject)
        assert found is not None
        end = found.last if last is None else last
        count = reader.read("AUDIT", subject, first, end, lambda s, b, q: read.append((s, b, q)))
    assert count == len(read)
    return read


def test_every_stored_message_of_the_subject_in_stream_order_across_batches(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retained, "BATCH", 7)  # many pull requests, one ending exactly full
    messages = []
    for n in range(1, 50):
        edition = 2027 if n % 5 else 2028  # another edition's messages interleaved
        subject = f"audit.v1.{edition}.probe_recorded"
        # With headers (as the relays publish, Nats-Msg-Id) and without; bodies of any bytes.
        headers = {"Nats-Msg-Id": f"audit:{n}"} if n % 2 else None
        messages.append((subject, f'{{"n":{n},"text":"é\\r\\nMSG x"}}'.encode(), headers))
    asyncio.run(publish(nats_url, messages))

    read = read_all(nats_url, "audit.v1.2027.>")

    expected = [
        (subject, body, sequence)
        for sequence, (subject, body, _) in enumerate(messages, start=1)
        if ".2027." in subject
    ]
    assert read == expected


def test_the_range_is_the_messages_stored_when_it_was_taken(nats_url: str) -> None:
    subject = "audit.v1.2027.probe_recorded"
    asyncio.run(publish(nats_url, [(subject, b'{"n":%d}' % n, None) for n in range(10)]))
    with RetainedReader(nats_url) as reader:
        found = reader.stream_range("AUDIT", "audit.v1.2027.>")
        assert found is not None
        assert (found.first, found.last, found.messages) == (1, 10, 10)
        asyncio.run(publish(nats_url, [(subject, b'{"late":true}', None)]))
        read: list[int] = []
        reader.read("AUDIT", "audit.v1.2027.>", 4, found.last, lambda s, b, q: read.append(q))
    assert read == [4, 5, 6, 7, 8, 9, 10]
    assert [q for _, _, q in read_all(nats_url, "audit.v1.2027.>")] == list(range(1, 12))


def test_a_missing_stream_or_subject_reads_nothing(nats_url: str) -> None:
    with RetainedReader(nats_url) as reader:
        assert reader.stream_range("AUDIT", "audit.v1.2027.>") is None
    asyncio.run(publish(nats_url, [("audit.v1.2027.probe_recorded", b"{}", None)]))
    with RetainedReader(nats_url) as reader:
        found = reader.stream_range("AUDIT", "audit.v1.1999.>")
        assert found is not None
        assert found.messages == 0
        assert reader.read("AUDIT", "audit.v1.1999.>", 1, found.last, print) == 0


def test_a_refused_request_says_why(nats_url: str) -> None:
    with RetainedReader(nats_url) as reader, pytest.raises(StreamReadError, match="not found"):
        reader.read("NO_SUCH_STREAM", "x.>", 1, 10, print)


def test_both_forms_of_a_jetstream_reply_subject_give_the_stream_position() -> None:
    assert stream_position(b"$JS.ACK.AUDIT.c1.1.4242.17.1764000000000000000.8") == (4242, 8)
    assert stream_position(
        b"$JS.ACK.hub.ACCOUNTHASH.AUDIT.c1.1.4242.17.1764000000000000000.0.x7Yq"
    ) == (4242, 0)
