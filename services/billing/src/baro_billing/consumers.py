"""Registration's contract events in → the billing application.

One durable pull consumer, `billing`, reads `registration.v1.>` in stream order, one message
in flight at a time. Every `on_*` command is idempotent, so a redelivered message, or the
same event published twice under another message id, never makes a second quote. A message
that cannot be understood goes to the dead-letter subject with its reason; one that arrives
before what it depends on (a site added before its registration, say) is retried a while.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream import AckPolicy
from faststream.nats import NatsBroker, NatsMessage, PullSub
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from baro_billing.application import BillingApplication
from baro_billing.domain import NotFound
from baro_chassis.consumers import dead_letter, ensure_streams, make_broker, stream_of
from baro_contracts import registration_v1 as reg
from baro_contracts.catalog import event_class
from baro_contracts.streams import REGISTRATION_STREAM

log = logging.getLogger(__name__)

DURABLE = "billing"
MAX_DELIVERIES = 20
RETRY_DELAY_SECONDS = 1.0


def apply_registration_event(application: BillingApplication, event: Any) -> object:
    """Route one registration.v1 event to its command; other events are not billing's."""
    match event:
        case reg.StructureRegistered():
            return application.on_structure_registered(event)
        case reg.SiteAdded():
            return application.on_site_added(event)
        case reg.SwitchedToPaid():
            return application.on_switched_to_paid(event)
        case reg.OrderFormSigned():
            return application.on_order_form_signed(event)
    return None


def build_consumer(application: BillingApplication, nats_url: str) -> NatsBroker:
    broker = make_broker(nats_url)

    @broker.subscriber(
        "registration.v1.>",
        stream=stream_of(REGISTRATION_STREAM),
        durable=DURABLE,
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        # One message in flight: a retried message is applied before any later one.
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_wait=30, max_ack_pending=1),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_registration_event(body: dict[str, Any], msg: NatsMessage) -> None:
        try:
            event = event_class(str(body.get("event_type"))).model_validate(body)
        except (KeyError, ValidationError) as exc:
            await dead_letter(broker, msg, DURABLE, f"not a registration.v1 event: {exc}")
            return
        try:
            await asyncio.to_thread(apply_registration_event, application, event)
        except NotFound as exc:
            deliveries = msg.raw_message.metadata.num_delivered
            if deliveries >= MAX_DELIVERIES:
                await dead_letter(broker, msg, DURABLE, f"gave up: {exc.message}")
                return
            await msg.nack(delay=RETRY_DELAY_SECONDS)
            return
        except Exception:  # the store is unavailable, say: retried until it is back
            log.exception("billing could not apply %s; retrying", event.event_id)
            await msg.nack(delay=RETRY_DELAY_SECONDS)
            return
        await msg.ack()

    return broker


async def start_consumer(application: BillingApplication, nats_url: str) -> NatsBroker:
    # Registration may not have published yet: its stream is created from the same contract.
    await ensure_streams(nats_url, REGISTRATION_STREAM)
    broker = build_consumer(application, nats_url)
    await broker.start()
    return broker
