"""A trace begun by an HTTP request continues through the NATS headers into a consumer."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from baro_chassis.consumers import make_broker, stream_of
from baro_chassis.settings import Settings
from baro_chassis.telemetry import setup_telemetry
from baro_chassis.testing import FakeClock, Tokens
from baro_contracts.registration_v1 import StructureRegistered
from baro_contracts.streams import REGISTRATION_STREAM
from baro_registration.main import create_app
from registration_builders import EDITION, registration_body

pytestmark = pytest.mark.integration


async def consume_one_registration(url: str) -> StructureRegistered:
    broker = make_broker(url)
    received: asyncio.Future[StructureRegistered] = asyncio.get_running_loop().create_future()

    @broker.subscriber(StructureRegistered.subject_pattern(), stream=stream_of(REGISTRATION_STREAM))
    async def on_registered(event: StructureRegistered) -> None:
        if not received.done():
            received.set_result(event)

    async with broker:
        await broker.start()
        return await asyncio.wait_for(received, timeout=15)


def test_http_trace_continues_into_a_nats_consumer(
    settings_for: Settings, clock: FakeClock, tokens: Tokens
) -> None:
    setup_telemetry("registration")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))

    with TestClient(create_app(settings_for, run_relay=True, clock=clock)) as client:
        client.post("/editions", json=EDITION, headers=tokens.admin)
        spans.clear()
        created = client.post(
            "/editions/2027/registrations", json=registration_body(), headers=tokens.frontend
        )
        assert created.status_code == 201
        event = asyncio.run(consume_one_registration(settings_for.nats_url))

    assert str(event.registration_id) == created.json()["registration_id"]
    finished = spans.get_finished_spans()
    http = [s for s in finished if s.kind is SpanKind.SERVER and "registrations" in s.name]
    consumer = [s for s in finished if s.kind is SpanKind.CONSUMER]
    assert http, "the HTTP request opened a server span"
    assert consumer, "the consumer opened a span for the message"
    assert consumer[0].context.trace_id == http[0].context.trace_id
