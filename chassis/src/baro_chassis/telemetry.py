"""OpenTelemetry: one tracer provider per process, the exporter chosen by environment.

OTEL_TRACES_EXPORTER = none (default) | console | otlp (OTEL_EXPORTER_OTLP_ENDPOINT applies).
Trace context crosses NATS in the W3C `traceparent` header.
"""

from __future__ import annotations

import os

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter


def _exporter(kind: str) -> SpanExporter | None:
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if kind in ("", "none"):
        return None
    raise ValueError(f"OTEL_TRACES_EXPORTER={kind!r}: use none, console or otlp")


def setup_telemetry(service: str) -> None:
    """Install the process's tracer provider unless one is already installed (tests do)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"baro-{service}"}))
    exporter = _exporter(os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower())
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]


def current_carrier() -> dict[str, str]:
    """The active trace context as headers, empty when no span is recording."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
