"""The base of a service's translator: domain event → public contract event (or None)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from baro_chassis.eventstore import TracedApplication
from baro_contracts.base import ContractEvent

Handler = Callable[[Any, Any, dict[str, Any]], ContractEvent | None]


class Translator:
    """Called by the relay in a worker thread, so it may read the event store."""

    handlers: ClassVar[dict[str, Handler]] = {}
    """`Aggregate.Event` name → (self, domain event, common fields) → its contract event.
    Events without a handler are internal: the relay skips them without decoding them."""

    def __init__(self, application: TracedApplication) -> None:
        self.application = application

    def publishes(self, topic: str) -> bool:
        return topic.rpartition(":")[2] in self.handlers

    def state_at(self, event: Any) -> Any:
        """The aggregate as it stood just after `event`."""
        return self.application.repository.get(
            event.originator_id, version=event.originator_version
        )

    def __call__(self, event: Any, event_id: str) -> ContractEvent | None:
        handler = self.handlers.get(type(event).__qualname__)
        if handler is None:
            return None
        return handler(self, event, {"event_id": event_id, "occurred_at": event.timestamp})
