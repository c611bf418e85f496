"""Registration's contract events in → the billing application.

One durable pull consumer, `billing`, reads `registration.v1.>` in stream order, one message
in flight at a time. Every `on_*` command is idempotent, so a redelivered message, or the
same event published twice under another message id, never makes a second quote. A message
that cannot be understood goes to the dead-letter subject with its reason; one that arrives
before what it depends on (a site added before its registration, say) is retried a while.
"""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from baro_billing.application import BillingApplication
from baro_billing.domain import NotFound
from baro_chassis.consumers import start_in_order_consumer
from baro_contracts import registration_v1 as reg

DURABLE = "billing"


def apply_registration_event(application: BillingApplication, event: Any) -> object:
    """Route one registration.v1 event to its command; other events are not billing's."""
    match event:
        case reg.EditionOpened():
            return application.on_edition_opened(event)
        case reg.StructureRegistered():
            return application.on_structure_registered(event)
        case reg.SiteAdded():
            return application.on_site_added(event)
        case reg.SwitchedToPaid():
            return application.on_switched_to_paid(event)
        case reg.OrderFormSigned():
            return application.on_order_form_signed(event)
    return None


async def start_consumer(application: BillingApplication, nats_url: str) -> NatsBroker:
    return await start_in_order_consumer(
        nats_url,
        events="registration.v1",
        durable=DURABLE,
        apply=lambda event: apply_registration_event(application, event),
        not_yet=NotFound,
    )
