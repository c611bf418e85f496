"""Registration's contract events in → the audit-ingest application.

One durable pull consumer, `audit-ingest`, reads `registration.v1.>` in stream order, one
message in flight at a time. Every
`on_*` command is idempotent, so a redelivered message, or the same event published twice
under another message id, changes nothing. A message that cannot be understood goes to the
dead-letter subject with its reason; one that arrives before what it depends on is retried.
"""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from baro_audit_ingest.application import AuditApplication
from baro_audit_ingest.domain import NotFound
from baro_chassis.consumers import start_in_order_consumer
from baro_contracts import registration_v1 as reg

DURABLE = "audit-ingest"


def apply_registration_event(application: AuditApplication, event: Any) -> object:
    """Route one registration.v1 event to its command; other events are not ours."""
    match event:
        case reg.EditionOpened():
            return application.on_edition_opened(event)
        case reg.StructureRegistered():
            return application.on_structure_registered(event)
        case reg.SiteAdded():
            return application.on_site_added(event)
        case reg.FreePlaceDecided():
            return application.on_free_place_decided(event)
        case reg.SwitchedToPaid():
            return application.on_switched_to_paid(event)
        case reg.RegistrationClosed():
            return application.on_registration_closed(event)
    return None


async def start_consumer(application: AuditApplication, nats_url: str) -> NatsBroker:
    return await start_in_order_consumer(
        nats_url,
        events="registration.v1",
        durable=DURABLE,
        apply=lambda event: apply_registration_event(application, event),
        not_yet=NotFound,
    )
