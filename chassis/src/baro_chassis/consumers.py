"""The consumer side: faststream NATS brokers that continue traces from message headers,
and the dead-letter subject where a consumer puts what it refuses."""

from __future__ import annotations

from faststream.nats import JStream, NatsBroker, NatsMessage
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import trace

from baro_chassis.nats import connect, ensure_stream
from baro_contracts.streams import DEAD_LETTER_STREAM, StreamSpec

DEAD_LETTER_REASON = "Baro-Dead-Letter-Reason"


def make_broker(nats_url: str) -> NatsBroker:
    """A broker whose subscribers open a span that continues the publisher's trace."""
    return NatsBroker(
        nats_url,
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        logger=None,
    )


def stream_of(spec: StreamSpec) -> JStream:
    """The producer's stream, as a consumer refers to it: never declared by the consumer."""
    return JStream(name=spec.name, subjects=list(spec.subjects), declare=False)


async def ensure_streams(nats_url: str, *specs: StreamSpec) -> None:
    """Create the streams a consumer reads, if their producer has not yet (same contract)."""
    nc = await connect(nats_url, "stream-setup")
    try:
        js = nc.jetstream()
        for spec in (DEAD_LETTER_STREAM, *specs):
            await ensure_stream(js, spec)
    finally:
        await nc.close()


def dead_letter_subject(consumer: str, subject: str) -> str:
    return f"deadletter.{consumer}.{subject}"


async def dead_letter(broker: NatsBroker, msg: NatsMessage, consumer: str, reason: str) -> None:
    """Keep a refused message, with why, on the dead-letter stream; then stop its redelivery."""
    raw = msg.raw_message
    await broker.publish(
        raw.data,
        dead_letter_subject(consumer, raw.subject),
        headers=_dead_letter_headers(raw, reason),
        stream=DEAD_LETTER_STREAM.name,
    )
    await msg.ack()


async def dead_letter_raw(js: JetStreamContext, raw: Msg, consumer: str, reason: str) -> None:
    """The same for a message a plain nats-py consumer fetched; the caller acknowledges it."""
    await js.publish(
        dead_letter_subject(consumer, raw.subject),
        raw.data,
        headers=_dead_letter_headers(raw, reason),
        stream=DEAD_LETTER_STREAM.name,
    )


def _dead_letter_headers(raw: Msg, reason: str) -> dict[str, str]:
    # Without the original message id: JetStream would drop it as a duplicate otherwise.
    headers = {k: v for k, v in (raw.headers or {}).items() if k != "Nats-Msg-Id"}
    return {**headers, DEAD_LETTER_REASON: reason[:1000]}
