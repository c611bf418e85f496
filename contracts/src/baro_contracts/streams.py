"""The JetStream stream each producing service owns, and how its subjects are built."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    # Window inside which JetStream drops a message whose Nats-Msg-Id it has already stored.
    duplicate_window_seconds: float = 600.0


REGISTRATION_STREAM = StreamSpec(
    name="REGISTRATION",
    subjects=("registration.>",),
    description="Public events of the registration service (all versions); retained for replay.",
)

AUDIT_STREAM = StreamSpec(
    name="AUDIT",
    subjects=("audit.>",),
    description="Public events of the audit-ingest service (all versions); retained for replay.",
)

SCORING_STREAM = StreamSpec(
    name="SCORING",
    subjects=("scoring.>",),
    description="Public events of the scoring service (all versions): published results.",
)

BILLING_STREAM = StreamSpec(
    name="BILLING",
    subjects=("billing.>",),
    description="Public events of the billing service (all versions): quotes, order forms, "
    "signatures and credit notes.",
)

REPORTING_STREAM = StreamSpec(
    name="REPORTING",
    subjects=("reporting.>",),
    description="Public events of the reporting service (all versions): rendered reports.",
)

STREAMS = {
    "registration": REGISTRATION_STREAM,
    "audit": AUDIT_STREAM,
    "scoring": SCORING_STREAM,
    "billing": BILLING_STREAM,
    "reporting": REPORTING_STREAM,
}

DEAD_LETTER_STREAM = StreamSpec(
    name="DEAD_LETTER",
    subjects=("deadletter.>",),
    description="Messages a consumer refused, on `deadletter.<consumer>.<original subject>`, "
    "with the reason in the Baro-Dead-Letter-Reason header.",
)
