"""Every published contract event, by service, version and name."""

from __future__ import annotations

from baro_contracts import audit_v1, billing_v1, registration_v1, reporting_v1, scoring_v1
from baro_contracts.base import ContractEvent

ALL_EVENTS: tuple[type[ContractEvent], ...] = (
    *registration_v1.EVENTS,
    *audit_v1.EVENTS,
    *scoring_v1.EVENTS,
    *billing_v1.EVENTS,
    *reporting_v1.EVENTS,
)


_BY_TYPE = {cls.type_name(): cls for cls in ALL_EVENTS}


def event_class(event_type: str) -> type[ContractEvent]:
    try:
        return _BY_TYPE[event_type]
    except KeyError:
        raise KeyError(f"unknown contract event type {event_type!r}") from None
