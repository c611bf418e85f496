"""The consumer side: faststream NATS brokers that continue traces from message headers,
and the dead-letter subject where a consumer puts what it refuses."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from pydantic import ValidationError

from baro_chassis.metrics import DEAD_LETTERED
from baro_chassis.nats import broker_options, connect, ensure_stream
from baro_contracts.catalog import event_class
from baro_contracts.streams import DEAD_LETTER_STREAM, STREAMS, StreamSpec

DEAD_LETTER_REASON = "Baro-Dead-Letter-Reason"
log = logging.getLogger(__name__)
T = TypeVar("T")


def make_broker(nats_url: str, name: str = "consumer") -> NatsBroker:
    """A broker whose subscribers open a span that continues the publisher's trace, that
    reconnects forever (faststream's default gives up after 60 attempts), and that takes the
    same servers, credentials and TLS as every other connection (`broker_options`)."""
    return NatsBroker(
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        logger=None,
        **broker_options(nats_url, name),
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
    DEAD_LETTERED.labels(consumer).inc()
    await msg.ack()


async def dead_letter_raw(js: JetStreamContext, raw: Msg, consumer: str, reason: str) -> None:
    """The same for a message a plain nats-py consumer fetched; the caller acknowledges it."""
    await js.publish(
        dead_letter_subject(consumer, raw.subject),
        raw.data,
        headers=_dead_letter_headers(raw, reason),
        stream=DEAD_LETTER_STREAM.name,
    )
    DEAD_LETTERED.labels(consumer).inc()


def _dead_letter_headers(raw: Msg, reason: str) -> dict[str, str]:
    # Without the original message id: JetStream would drop it as a duplicate otherwise.
    headers = {k: v for k, v in (raw.headers or {}).items() if k != "Nats-Msg-Id"}
    return {**headers, DEAD_LETTER_REASON: reason[:1000]}


def in_order_consumer(
    nats_url: str,
    *,
    events: str,
    durable: str,
    apply: Callable[[Any], object],
    not_yet: type[Exception],
    refused: type[Exception] | None = None,
    subject: str | None = None,
    max_deliveries: int = 20,
    retry_delay_seconds: float = 1.0,
    ack_wait_seconds: float = 30.0,
) -> NatsBroker:
    """A durable pull consumer of one contract's events (`events`, e.g. "registration.v1":
    the subjects `registration.v1.>` of the producer's stream) with one message in flight,
    so that a retried message is applied before any later one. Each message is parsed as a
    contract event and given to `apply` (in a worker thread; it must be idempotent). A
    message that is not a contract event is dead-lettered with the reason; `not_yet` (what
    it depends on has not arrived) is retried, then dead-lettered after `max_deliveries`;
    `refused` (the event is wrong and retrying cannot mend it) is dead-lettered at once;
    anything else (the store is down, say) is retried until it works. An `apply` that is a
    coroutine function is awaited on the loop instead. `subject` narrows the consumer to
    some of the contract's subjects (default: all of them, `<events>.>`). While `apply`
    works, the message is reported in progress every third of `ack_wait_seconds`, so a long
    one (a close of 40,000 structures) is not redelivered to another replica meanwhile."""
    broker = make_broker(nats_url, durable)
    run: Callable[[Any], Any] = (
        apply if inspect.iscoroutinefunction(apply) else lambda e: asyncio.to_thread(apply, e)
    )

    @broker.subscriber(
        subject or f"{events}.>",
        stream=stream_of(stream_of_events(events)),
        durable=durable,
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_wait=ack_wait_seconds, max_ack_pending=1
        ),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_event(body: dict[str, Any], msg: NatsMessage) -> None:
        try:
            event = event_class(str(body.get("event_type"))).model_validate(body)
        except (KeyError, ValidationError) as exc:
            await dead_letter(broker, msg, durable, f"not a {events} event: {exc}")
            return
        try:
            await kept_in_progress(msg, run(event), every=ack_wait_seconds / 3)
        except not_yet as exc:
            if msg.raw_message.metadata.num_delivered >= max_deliveries:
                await dead_letter(broker, msg, durable, f"gave up: {getattr(exc, 'message', exc)}")
                return
            await msg.nack(delay=retry_delay_seconds)
            return
        except Exception as exc:
            if refused is not None and isinstance(exc, refused):
                log.error("%s refused %s: %s", durable, event.event_id, exc)
                await dead_letter(broker, msg, durable, f"refused: {exc}")
                return
            log.exception("%s could not apply %s; retrying", durable, event.event_id)
            await msg.nack(delay=retry_delay_seconds)
            return
        await msg.ack()

    return broker


async def kept_in_progress(msg: NatsMessage, work: Awaitable[T], every: float) -> T:
    """Await `work`, telling JetStream every `every` seconds that `msg` is still in hand."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            await msg.in_progress()

    beating = asyncio.create_task(beat())
    try:
        return await work
    finally:
        beating.cancel()


def stream_of_events(events: str) -> StreamSpec:
    """The stream of the service that publishes `events` ("registration.v1" → REGISTRATION)."""
    return STREAMS[events.split(".", 1)[0]]


async def start_in_order_consumer(nats_url: str, *, events: str, **options: Any) -> NatsBroker:
    """`in_order_consumer(...)`, started. The producer may not have published yet: its
    stream is created from the same contract."""
    await ensure_streams(nats_url, stream_of_events(events))
    broker = in_order_consumer(nats_url, events=events, **options)
    await broker.start()
    return broker
