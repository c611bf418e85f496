"""registration.v1 and audit.v1 events in → the read model.

Two durable pull consumers, `scoring-registration` and `scoring-audit`, each take what is
waiting (up to 500 messages) as one batch. A batch's facts, the scores they change and the
consumer's stream position are committed in one transaction, and only then acknowledged: a
crash before the commit redelivers the batch; one after it redelivers facts already stored,
which change nothing (facts are keyed by event id, scores are a function of the set of
facts). A message that is not a contract event goes to the dead-letter subject with why.

The loop uses nats-py directly: it waits for one message, then takes whatever else is
already there, so a lone probe is applied at once and a backlog goes 500 at a time (a
faststream batch subscriber waits to fill its batch or for its timeout). Each batch gets a
span linked to the trace of every message in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import propagate, trace

from baro_chassis.consumers import dead_letter_raw, ensure_streams
from baro_chassis.nats import connect
from baro_chassis.resilience import Outage, keep_running
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM, StreamSpec
from baro_scoring.facts import NOT_A_CONTRACT_EVENT, Fact, parse_fact
from baro_scoring.projections import apply_facts

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

BATCH_SIZE = 500
IDLE_WAIT_SECONDS = 1.0
# A batch takes well under a second; one whose consumer died is redelivered after this.
ACK_WAIT_SECONDS = 10
RETRY_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class Source:
    durable: str
    subjects: str
    stream: StreamSpec


SOURCES = (
    Source("scoring-registration", "registration.v1.>", REGISTRATION_STREAM),
    Source("scoring-audit", "audit.v1.>", AUDIT_STREAM),
)


async def fetch_waiting(sub: object, batch_size: int) -> list[Msg]:
    """At least one message (waiting up to IDLE_WAIT_SECONDS), plus those already waiting
    behind it, which its metadata counts; asking for no more than are there means no pull
    request lingers on the server to capture a later message after we stopped waiting."""
    fetch = sub.fetch  # type: ignore[attr-defined]
    try:
        messages: list[Msg] = await fetch(1, timeout=IDLE_WAIT_SECONDS)
    except TimeoutError:
        return []
    waiting = min(messages[-1].metadata.num_pending or 0, batch_size - 1)
    if waiting:
        with contextlib.suppress(TimeoutError):
            messages += await fetch(waiting, timeout=IDLE_WAIT_SECONDS)
    return messages


class BatchConsumer:
    def __init__(self, pool: asyncpg.Pool, nc: Client, source: Source) -> None:
        self.pool = pool
        self.nc = nc
        self.source = source

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop`; while NATS or the database is unavailable, retried (with
        backoff, the outage logged once) until it is back."""
        await keep_running(self.source.durable, lambda outage: self._consume(stop, outage), stop)

    async def _consume(self, stop: asyncio.Event, outage: Outage) -> None:
        sub = await self.nc.jetstream().pull_subscribe(
            self.source.subjects,
            durable=self.source.durable,
            stream=self.source.stream.name,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT_SECONDS,
                max_ack_pending=4 * BATCH_SIZE,
            ),
        )
        try:
            while not stop.is_set():
                messages = await fetch_waiting(sub, BATCH_SIZE)
                if messages:
                    await self.apply(messages)
                outage.recovered()
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def apply(self, messages: list[Msg]) -> None:
        links = [
            trace.Link(
                trace.get_current_span(propagate.extract(m.headers or {})).get_span_context()
            )
            for m in messages
        ]
        with tracer.start_as_current_span(
            f"{self.source.durable} apply", links=links[:128], kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.batch.message_count", len(messages))
            facts: list[Fact] = []
            for raw in messages:
                try:
                    facts.append(parse_fact(raw.data, raw.subject))
                except NOT_A_CONTRACT_EVENT as exc:
                    reason = f"not a valid {self.source.subjects} contract event: {exc}"
                    await dead_letter_raw(self.nc.jetstream(), raw, self.source.durable, reason)
            last = max(m.metadata.sequence.stream for m in messages)
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await apply_facts(conn, facts, self.source.durable, last)
            except Exception:
                for m in messages:
                    await m.nak(delay=RETRY_DELAY_SECONDS)
                raise
            for m in messages:
                await m.ack()


class Consumers:
    """Both consumers, on their own NATS connection, until `stop`."""

    def __init__(self, pool: asyncpg.Pool, nats_url: str) -> None:
        self.pool = pool
        self.nats_url = nats_url
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._nc: Client | None = None

    async def start(self) -> None:
        # The producers may not have published yet: their streams come from the contracts.
        await ensure_streams(self.nats_url, REGISTRATION_STREAM, AUDIT_STREAM)
        self._nc = await connect(self.nats_url, "scoring-consumers")
        self._tasks = [
            asyncio.create_task(
                BatchConsumer(self.pool, self._nc, source).run(self._stop),
                name=source.durable,
            )
            for source in SOURCES
        ]

    def tasks(self) -> list[asyncio.Task[None]]:
        return self._tasks

    def connection(self) -> Client | None:
        return self._nc

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None:
            await self._nc.close()


async def backlog(nc: Client) -> dict[str, int]:
    """Per consumer, the messages not yet applied (waiting, or delivered and unacknowledged);
    -1 for a consumer that does not exist yet."""
    js = nc.jetstream()
    pending = {}
    for source in SOURCES:
        try:
            info = await js.consumer_info(source.stream.name, source.durable)
        except NotFoundError:
            pending[source.durable] = -1
            continue
        pending[source.durable] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    return pending
