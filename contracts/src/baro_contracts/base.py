"""What every public contract event has in common."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

REGISTRATION_HEADER = "Baro-Registration-Id"
"""The header naming the structure (registration) a message is about, when it is about one:
consumers can route a message without parsing it."""


class ContractModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ContractEvent(ContractModel):
    """An event a service publishes. Subclasses fix `event_type` and say what happened."""

    service: ClassVar[str]
    version: ClassVar[int]
    name: ClassVar[str]

    event_id: str = Field(
        description="`<service>:<position in the producer's event log>`; also the Nats-Msg-Id. "
        "Consumers use it to drop duplicates."
    )
    occurred_at: datetime = Field(description="When the producer recorded the event (UTC).")
    edition: int = Field(description="The edition (year) the event belongs to.")

    @classmethod
    def type_name(cls) -> str:
        """`<service>.v<version>.<name>`, the value of the event's `event_type` field."""
        return f"{cls.service}.v{cls.version}.{cls.name}"

    @classmethod
    def subject_for(cls, edition: int) -> str:
        return f"{cls.service}.v{cls.version}.{edition}.{cls.name}"

    @classmethod
    def subject_pattern(cls) -> str:
        return f"{cls.service}.v{cls.version}.*.{cls.name}"

    @property
    def subject(self) -> str:
        return self.subject_for(self.edition)

    def headers(self) -> dict[str, str]:
        """The headers its producer's relay publishes it with: its event id (JetStream
        drops a duplicate of it), its type, and the registration it is about, if any."""
        headers = {"Nats-Msg-Id": self.event_id, "Baro-Event-Type": self.type_name()}
        registration_id = getattr(self, "registration_id", None)
        if registration_id is not None:
            headers[REGISTRATION_HEADER] = str(registration_id)
        return headers
