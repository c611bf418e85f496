"""Every published contract event, by service, version and name."""

from __future__ import annotations

from baro_contracts import audit_v1, registration_v1
from baro_contracts.base import ContractEvent

ALL_EVENTS: tuple[type[ContractEvent], ...] = (*registration_v1.EVENTS, *audit_v1.EVENTS)


def event_class(event_type: str) -> type[ContractEvent]:
    for cls in ALL_EVENTS:
        if cls.type_name() == event_type:
            return cls
    raise KeyError(f"unknown contract event type {event_type!r}")
