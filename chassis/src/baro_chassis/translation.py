"""The base of a service's translator: domain event → public contract event (or None)."""

from __future__ import annotations

from typing import Any

from baro_chassis.eventstore import TracedApplication
from baro_contracts.base import ContractEvent


class Translator:
    """Called by the relay in a worker thread, so it may read the event store."""

    public: frozenset[str] = frozenset()
    """The `Aggregate.Event` names that have a contract event; the relay skips the others
    without decoding them."""

    def publishes(self, topic: str) -> bool:
        return topic.rpartition(":")[2] in self.public

    def __init__(self, application: TracedApplication) -> None:
        self.application = application

    def state_at(self, event: Any) -> Any:
        """The aggregate as it stood just after `event`."""
        return self.application.repository.get(
            event.originator_id, version=event.originator_version
        )

    def __call__(self, event: Any, event_id: str) -> ContractEvent | None:
        common: dict[str, Any] = {"event_id": event_id, "occurred_at": event.timestamp}
        return self.translate(type(event).__qualname__, event, common)

    def translate(
        self, event_type: str, event: Any, common: dict[str, Any]
    ) -> ContractEvent | None:
        """The contract event for a domain event of type `Aggregate.Event`, or None."""
        raise NotImplementedError
