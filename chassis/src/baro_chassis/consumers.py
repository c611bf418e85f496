"""The consumer side: faststream NATS brokers that continue traces from message headers."""

from __future__ import annotations

from faststream.nats import JStream, NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from opentelemetry import trace

from baro_contracts.streams import StreamSpec


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
