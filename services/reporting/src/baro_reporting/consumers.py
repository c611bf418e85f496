"""What reporting learns from the streams, each through a durable in-order consumer.

- `reporting-registration`: registration.v1's events that change what a report shows
  (never contacts), kept with their positions, so documents use them as of a publication.
- `reporting-referentials`: audit.v1's referential versions (labels of items and
  determinants; their count in the synthesis).
- `reporting-publications`: scoring.v1.results_published. The document is fetched from the
  results bucket and taken only if its SHA-256 is the event's fingerprint; a mismatch is
  dead-lettered with the reason. Taken once registration's events it includes are here.

Every apply is idempotent (keyed by the event's position in its producer's log), so a
redelivered message, or the same event under another message id, changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError

from baro_chassis.consumers import start_in_order_consumer
from baro_contracts import audit_v1, scoring_v1
from baro_contracts.scoring_v1 import RESULTS_BUCKET, results_object_name
from baro_contracts.streams import AUDIT_STREAM
from baro_reporting import store
from baro_reporting.domain import NotYet, Refused
from baro_reporting.facts import KEPT_REGISTRATION_EVENTS, producer_position

log = logging.getLogger(__name__)

REGISTRATION_CONSUMER = "reporting-registration"
REFERENTIAL_CONSUMER = "reporting-referentials"
PUBLICATION_CONSUMER = "reporting-publications"
# A publication waits for its document and for registration's events for up to an hour.
PUBLICATION_RETRIES = 1800
PUBLICATION_RETRY_SECONDS = 2.0


async def apply_registration_event(pool: asyncpg.Pool, event: Any) -> None:
    _, position = producer_position(event.event_id)
    async with pool.acquire() as conn, conn.transaction():
        if event.event_type in KEPT_REGISTRATION_EVENTS:
            await store.keep_event(
                conn, "registration_events", position, event.edition, event.model_dump_json()
            )
        await store.mark_consumed(conn, "registration", position)


async def apply_referential(pool: asyncpg.Pool, event: audit_v1.ReferentialPublished) -> None:
    _, position = producer_position(event.event_id)
    async with pool.acquire() as conn:
        await store.keep_event(
            conn, "referentials", position, event.edition, event.model_dump_json()
        )


async def referentials_caught_up(nc: Client) -> bool:
    try:
        info = await nc.jetstream().consumer_info(AUDIT_STREAM.name, REFERENTIAL_CONSUMER)
    except NotFoundError:
        return False
    return not info.num_pending and not info.num_ack_pending


async def fetch_document(js: JetStreamContext, edition: int, fingerprint: str, method: str) -> str:
    """The published document of `edition` from scoring's bucket, checked against its
    fingerprint: NotYet while it is not there, Refused when it does not match."""
    name = results_object_name(edition, fingerprint)
    try:
        bucket = await js.object_store(RESULTS_BUCKET)
        found = await bucket.get(name)
    except (BucketNotFoundError, ObjectNotFoundError):
        raise NotYet(f"the results document {name} is not in {RESULTS_BUCKET} yet") from None
    data = found.data or b""
    digest = hashlib.sha256(data).hexdigest()
    if digest != fingerprint:
        raise Refused(
            f"the document {RESULTS_BUCKET}/{name} has SHA-256 {digest}, not the published "
            f"fingerprint {fingerprint}: no report is made from it"
        )
    document = json.loads(data)
    if document.get("edition") != edition or document.get("method") != method:
        raise Refused(f"the document {name} is not edition {edition}'s {method}")
    return data.decode()


async def apply_publication(
    pool: asyncpg.Pool,
    nc: Client,
    event: scoring_v1.ResultsPublished,
    published: Callable[[int], None],
) -> None:
    _, position = producer_position(event.event_id)
    through = event.included_through.get("registration", 0)
    async with pool.acquire() as conn:
        have = await store.consumed_position(conn, "registration")
    if have < through:
        raise NotYet(f"registration's events up to {through} are not all here (at {have})")
    if not await referentials_caught_up(nc):
        raise NotYet("the referential consumer has not caught up with audit-ingest yet")
    document = await fetch_document(nc.jetstream(), event.edition, event.fingerprint, event.method)
    async with pool.acquire() as conn:
        kept = await store.keep_publication(
            conn,
            position,
            {
                "edition": event.edition,
                "fingerprint": event.fingerprint,
                "method": event.method,
                "included_through": event.included_through,
                "published_at": event.published_at,
                "published_by": event.published_by,
                "document": document,
            },
        )
    if kept:
        log.info("edition %s published as %s: its reports follow", event.edition, event.fingerprint)
        published(event.edition)


class Consumers:
    def __init__(
        self, pool: asyncpg.Pool, nc: Client, nats_url: str, published: Callable[[int], None]
    ) -> None:
        self.pool = pool
        self.nc = nc
        self.nats_url = nats_url
        self.published = published
        self.brokers: list[NatsBroker] = []

    async def start(self) -> None:
        pool, nc = self.pool, self.nc

        async def registration(event: Any) -> None:
            await apply_registration_event(pool, event)

        async def referential(event: Any) -> None:
            await apply_referential(pool, event)

        async def publication(event: Any) -> None:
            if isinstance(event, scoring_v1.ResultsPublished):
                await apply_publication(pool, nc, event, self.published)

        self.brokers = [
            await start_in_order_consumer(
                self.nats_url,
                events="registration.v1",
                durable=REGISTRATION_CONSUMER,
                apply=registration,
                not_yet=NotYet,
            ),
            await start_in_order_consumer(
                self.nats_url,
                events="audit.v1",
                subject=audit_v1.ReferentialPublished.subject_pattern(),
                durable=REFERENTIAL_CONSUMER,
                apply=referential,
                not_yet=NotYet,
            ),
            await start_in_order_consumer(
                self.nats_url,
                events="scoring.v1",
                durable=PUBLICATION_CONSUMER,
                apply=publication,
                not_yet=NotYet,
                refused=Refused,
                max_deliveries=PUBLICATION_RETRIES,
                retry_delay_seconds=PUBLICATION_RETRY_SECONDS,
            ),
        ]

    async def stop(self) -> None:
        for broker in self.brokers:
            await broker.stop()
