"""The outbox relay: follows an application's notification log and publishes each stored
event, translated to its public contract event, to JetStream.

- `Nats-Msg-Id = <service>:<notification id>`: JetStream drops a re-publication inside its
  duplicate window, so a relay that crashed between publishing and saving its position
  publishes nothing twice when it restarts.
- In order: a batch's events go out together (one wait for their acknowledgements, not one
  per event), each naming the one before it (`Nats-Expected-Last-Msg-Id`), so JetStream
  refuses an event whose predecessor it did not store and the stream never holds them out
  of order. The position is saved after each batch, never past an unpublished event.
- One active relay per service: a PostgreSQL advisory lock elects it; others wait.
- It heals: when its connection to PostgreSQL or NATS is lost, it closes both, reconnects
  with backoff, is elected again (a standby may have been meanwhile: the lock belongs to a
  session, which died), and resumes from its saved position (`resilience.keep_running`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg
from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from nats.js.api import PubAck

from baro_chassis.eventstore import TracedApplication
from baro_chassis.metrics import RELAY_PUBLISHED
from baro_chassis.nats import connect, ensure_stream
from baro_chassis.postgres import create_tables
from baro_chassis.resilience import Outage, keep_running, wait_or_stop
from baro_chassis.translation import Translator
from baro_contracts.base import ContractEvent
from baro_contracts.streams import StreamSpec

log = logging.getLogger(__name__)


POSITIONS_DDL = """
CREATE TABLE IF NOT EXISTS relay_positions (
    relay text PRIMARY KEY,
    position bigint NOT NULL
)
"""


# How long connecting may take, and any one query, before the relay starts over.
CONNECT_TIMEOUT_SECONDS = 10.0
QUERY_TIMEOUT_SECONDS = 30.0
LEADERSHIP_POLL_SECONDS = 1.0
FINAL_PUBLISH_SECONDS = 5.0


class RelayState(StrEnum):
    CONNECTING = "connecting"  # (again, after an outage)
    STANDBY = "standby"  # connected, waiting for the active relay's lock
    LEADER = "leader"  # the active relay
    STOPPED = "stopped"


@dataclass
class RelayStats:
    published: int = 0
    skipped_internal: int = 0
    duplicates: int = 0


class Relay:
    def __init__(
        self,
        *,
        service: str,
        application: TracedApplication,
        translate: Translator,
        stream: StreamSpec,
        nats_url: str,
        database_url: str,
        batch_size: int = 500,
        idle_wait: float = 0.05,
    ) -> None:
        self.service = service
        self.application = application
        self.translate = translate
        self.stream = stream
        self.nats_url = nats_url
        self.database_url = database_url
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.stats = RelayStats()
        self.state = RelayState.STOPPED
        self._db: asyncpg.Connection | None = None
        self._js: JetStreamContext | None = None
        self._nc: Any = None

    async def open(self) -> None:
        self._db = await asyncpg.connect(
            self.database_url,
            timeout=CONNECT_TIMEOUT_SECONDS,
            command_timeout=QUERY_TIMEOUT_SECONDS,
        )
        await create_tables(self._db, POSITIONS_DDL)
        # nats-py retries its first connection forever: bounded here, so a relay told to
        # stop while NATS is down does stop.
        self._nc = await asyncio.wait_for(
            connect(self.nats_url, f"{self.service}-relay"), CONNECT_TIMEOUT_SECONDS
        )
        self._js = self._nc.jetstream()
        await ensure_stream(self._js, self.stream)

    async def close(self) -> None:
        """Close both connections; after an outage, whatever state they are in."""
        nc, db = self._nc, self._db
        self._nc, self._js, self._db = None, None, None
        if nc is not None:
            try:
                await asyncio.wait_for(nc.drain(), CONNECT_TIMEOUT_SECONDS)
            except Exception:
                await nc.close()
        if db is not None:
            try:
                await asyncio.wait_for(db.close(), CONNECT_TIMEOUT_SECONDS)
            except Exception:
                db.terminate()

    async def position(self) -> int:
        assert self._db is not None
        value = await self._db.fetchval(
            "SELECT position FROM relay_positions WHERE relay = $1", self.service
        )
        return int(value or 0)

    async def _save_position(self, position: int) -> None:
        assert self._db is not None
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO relay_positions (relay, position) VALUES ($1, $2) "
                "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position",
                self.service,
                position,
            )
            await self._db.execute(
                "DELETE FROM event_trace_links WHERE notification_id <= $1", position
            )

    def _read_batch(self, start: int) -> list[tuple[int, ContractEvent | None]]:
        """The next notifications from `start`, each translated (None when internal).

        Runs in a worker thread: reading and translating may query the event store.
        """
        notifications = self.application.recorder.select_notifications(
            start=start, limit=self.batch_size
        )
        return [(n.id, self._translate(n)) for n in notifications]

    def _translate(self, notification: Notification) -> ContractEvent | None:
        if not self.translate.publishes(notification.topic):
            return None
        domain_event = self.application.mapper.to_domain_event(notification)
        return self.translate(domain_event, f"{self.service}:{notification.id}")

    async def _trace_carriers(self, first: int, last: int) -> dict[int, dict[str, str]]:
        assert self._db is not None
        rows = await self._db.fetch(
            "SELECT notification_id, carrier FROM event_trace_links "
            "WHERE notification_id BETWEEN $1 AND $2",
            first,
            last,
        )
        return {int(r["notification_id"]): json.loads(r["carrier"]) for r in rows}

    async def publish_pending(self) -> int:
        """Publish one batch of what is not yet on the stream; returns how many were read."""
        assert self._js is not None
        position = await self.position()
        batch = await asyncio.to_thread(self._read_batch, position + 1)
        if not batch:
            return 0
        carriers = await self._trace_carriers(batch[0][0], batch[-1][0])
        sends = []
        previous: str | None = None
        for notification_id, contract in batch:
            if contract is not None:
                carrier = carriers.get(notification_id, {})
                sends.append(self._publish(contract, carrier, previous))
                previous = contract.event_id
        acks = iter(await asyncio.gather(*sends, return_exceptions=True))
        published = position
        try:
            for notification_id, contract in batch:
                if contract is None:
                    self.stats.skipped_internal += 1
                else:
                    ack = next(acks)
                    if isinstance(ack, BaseException):
                        raise ack  # the events after it were refused: published again next time
                    self.stats.published += 1
                    RELAY_PUBLISHED.labels(self.service).inc()
                    self.stats.duplicates += bool(ack.duplicate)
                published = notification_id
        finally:
            if published > position:
                await self._save_position(published)
        return len(batch)

    async def _publish(
        self, contract: ContractEvent, carrier: dict[str, str], previous: str | None
    ) -> PubAck:
        assert self._js is not None
        headers = {**contract.headers(), **carrier}
        if previous is not None:
            headers["Nats-Expected-Last-Msg-Id"] = previous
        return await self._js.publish(
            contract.subject,
            contract.model_dump_json().encode(),
            headers=headers,
            stream=self.stream.name,
        )

    async def _acquire_leadership(self, stop: asyncio.Event, outage: Outage) -> bool:
        assert self._db is not None
        while not stop.is_set():
            if await self._db.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self.service):
                return True
            self.state = RelayState.STANDBY
            outage.recovered()  # a standby that can ask for the lock works as it should
            await wait_or_stop(stop, LEADERSHIP_POLL_SECONDS)
        return False

    async def _session(self, stop: asyncio.Event, outage: Outage) -> None:
        """Connect, be elected, relay until `stop`; raises when a connection is lost."""
        self.state = RelayState.CONNECTING
        try:
            await self.open()
            if not await self._acquire_leadership(stop, outage):
                return
            self.state = RelayState.LEADER
            while not stop.is_set():
                read = await self.publish_pending()
                outage.recovered()
                if read < self.batch_size:
                    await wait_or_stop(stop, self.idle_wait)
            await self._publish_last()
        finally:
            await self.close()

    async def _publish_last(self) -> None:
        """On stop, what the last requests recorded goes out before the process ends
        (else it would wait in the event store for the next start). Bounded, and only on a
        live connection: a relay stopped during an outage stops at once."""
        if self._nc is None or not self._nc.is_connected:
            return

        async def drain() -> None:
            while await self.publish_pending() >= self.batch_size:
                pass

        try:
            await asyncio.wait_for(drain(), FINAL_PUBLISH_SECONDS)
        except TimeoutError:
            log.warning("relay %s: stopped with events still to publish", self.service)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, through any number of PostgreSQL or NATS outages."""
        try:
            await keep_running(
                f"relay {self.service}", lambda outage: self._session(stop, outage), stop, log
            )
        finally:
            self.state = RelayState.STOPPED
