"""Metrics in Prometheus's text format on every service's `/metrics` (open, like `/health`).

Counted as they happen, in the process that does it: HTTP requests (per route template,
method and status) and their latencies, events relayed, messages dead-lettered. Sampled
when `/metrics` is scraped, from PostgreSQL and JetStream, so that they are right whichever
process does the work (audit-ingest's probe writer runs its relay and consumer in a process
without an HTTP port): relay lag, the pending messages of the service's durable consumers,
and the dead letters they left on the DEAD_LETTER stream.

Each process has its own counters: audit-ingest with `--workers N` answers a scrape from one
of its N API processes. Run one worker per container and scale by replicas to count them all.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response
from nats.aio.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baro_chassis.nats import connect
from baro_chassis.settings import Settings
from baro_contracts.streams import DEAD_LETTER_STREAM, STREAMS

SAMPLE_TIMEOUT_SECONDS = 2.0

HTTP_REQUESTS = Counter(
    "baro_http_requests",
    "HTTP requests answered, per route template, method and status code.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "baro_http_request_duration_seconds",
    "Time to answer an HTTP request, per route template, method and status code.",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RELAY_PUBLISHED = Counter(
    "baro_relay_published_events",
    "Events the relay of this process published to JetStream.",
    ["service"],
)
RELAY_LAG = Gauge(
    "baro_relay_lag_notifications",
    "Notifications recorded in the service's event store that its relay has not yet passed.",
    ["service"],
)
CONSUMER_PENDING = Gauge(
    "baro_consumer_pending_messages",
    "Messages on the stream that the durable consumer has not yet been delivered.",
    ["service", "stream", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "baro_consumer_ack_pending_messages",
    "Messages delivered to the durable consumer and not yet acknowledged.",
    ["service", "stream", "consumer"],
)
DEAD_LETTERED = Counter(
    "baro_dead_letters",
    "Messages this process's consumers refused and put on the DEAD_LETTER stream.",
    ["consumer"],
)
DEAD_LETTERS_STORED = Gauge(
    "baro_dead_letters_stored",
    "Messages on the DEAD_LETTER stream left by the consumer (all its processes, ever).",
    ["service", "consumer"],
)
SAMPLE_UP = Gauge(
    "baro_metrics_sample_up",
    "1 when the last scrape could sample the source (database, nats), 0 when not.",
    ["service", "source"],
)


class RequestMetrics:
    """ASGI middleware: counts and times each HTTP request by its route's template (so
    `/registrations/{registration_id}`, not one series per id)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            labels = (self.service, scope["method"], template, str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)


def is_own_consumer(service: str, durable: str) -> bool:
    return durable == service or durable.startswith(f"{service}-")


async def sample_relay_lag(settings: Settings, events_table: str) -> None:
    conn = await asyncpg.connect(settings.database_url, timeout=SAMPLE_TIMEOUT_SECONDS)
    try:
        recorded = await conn.fetchval(f"SELECT max(notification_id) FROM {events_table}")  # noqa: S608 - the recorder's own table name
        try:
            relayed = await conn.fetchval(
                "SELECT position FROM relay_positions WHERE relay = $1", settings.service
            )
        except asyncpg.UndefinedTableError:  # no relay has run yet
            relayed = None
    finally:
        conn.terminate()
    RELAY_LAG.labels(settings.service).set(max(int(recorded or 0) - int(relayed or 0), 0))


async def sample_consumers(settings: Settings) -> None:
    nc: Client = await asyncio.wait_for(
        connect(settings.nats_url, f"{settings.service}-metrics"), SAMPLE_TIMEOUT_SECONDS
    )
    try:
        js = nc.jetstream()
        names = {info.config.name for info in await js.streams_info()}
        for spec in STREAMS.values():
            if spec.name not in names:
                continue
            for info in await js.consumers_info(spec.name):
                durable = info.name
                if not is_own_consumer(settings.service, durable):
                    continue
                labels = (settings.service, spec.name, durable)
                CONSUMER_PENDING.labels(*labels).set(info.num_pending or 0)
                CONSUMER_ACK_PENDING.labels(*labels).set(info.num_ack_pending or 0)
                await _sample_dead_letters(nc, settings.service, durable, DEAD_LETTER_STREAM.name)
    finally:
        await nc.close()


async def _sample_dead_letters(nc: Client, service: str, durable: str, stream: str) -> None:
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=f"deadletter.{durable}.>")
    except Exception:  # no DEAD_LETTER stream yet: nothing dead-lettered
        DEAD_LETTERS_STORED.labels(service, durable).set(0)
        return
    DEAD_LETTERS_STORED.labels(service, durable).set(sum((info.state.subjects or {}).values()))


async def _sampled(settings: Settings, source: str, sample: Any) -> None:
    try:
        await asyncio.wait_for(sample, SAMPLE_TIMEOUT_SECONDS * 2)
    except Exception:
        SAMPLE_UP.labels(settings.service, source).set(0)
        return
    SAMPLE_UP.labels(settings.service, source).set(1)


def install_metrics(app: FastAPI, settings: Settings) -> None:
    """The request middleware and the `/metrics` route (outside the OpenAPI document)."""
    app.add_middleware(RequestMetrics, service=settings.service)

    async def metrics(request: Request) -> Response:
        application = getattr(request.app.state, "application", None)
        samples = [_sampled(settings, "nats", sample_consumers(settings))]
        if application is not None:
            table = getattr(application.recorder, "events_table_name", "stored_events")
            samples.append(_sampled(settings, "database", sample_relay_lag(settings, table)))
        await asyncio.gather(*samples)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
