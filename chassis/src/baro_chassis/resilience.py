"""Staying up through outages: what counts as a lost connection (to PostgreSQL or NATS),
capped jittered backoff, and `keep_running`, which runs a session again after each loss
until told to stop, logging each outage once when it starts and once when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg
from eventsourcing import persistence
from nats.errors import Error as NatsError

log = logging.getLogger(__name__)

# What a dropped or refused connection raises: sockets, timeouts, asyncpg (a terminated
# session is a PostgresError, AdminShutdownError; a closed one an InterfaceError), psycopg
# and the eventsourcing recorder's own wrappers of psycopg's errors, and nats-py.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    NatsError,
)


class Backoff:
    """Delays that double from `first` to `cap`, each drawn between half and all of it
    (jitter: processes that lost the same server do not all come back at once)."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def delay(self) -> float:
        current = self._next
        self._next = min(self.cap, current * 2)
        return random.uniform(current / 2, current)

    def reset(self) -> None:
        self._next = self.first


class Outage:
    """One warning when `what` loses its connection, one when it is back: not one per retry."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self.what = what
        self.logger = logger
        self.since: float | None = None
        self.backoff = Backoff()

    def lost(self, exc: BaseException) -> float:
        """Note the failure; returns how long to wait before trying again."""
        if self.since is None:
            self.since = time.monotonic()
            self.logger.warning(
                "%s: connection lost (%s: %s); reconnecting", self.what, type(exc).__name__, exc
            )
        return self.backoff.delay()

    def recovered(self) -> None:
        self.backoff.reset()
        if self.since is not None:
            self.logger.warning(
                "%s: recovered after %.1f s", self.what, time.monotonic() - self.since
            )
            self.since = None


Session = Callable[[Outage], Awaitable[None]]


async def keep_running(
    what: str, session: Session, stop: asyncio.Event, logger: logging.Logger = log
) -> None:
    """Run `session(outage)` until `stop` is set. The session connects, calls
    `outage.recovered()` once it works, and returns only when `stop` is set; when it raises
    a connection error (or ends early), it is run again after a backoff. Any other error is
    logged with its traceback and retried the same way: this never ends before `stop`."""
    outage = Outage(what, logger)
    while not stop.is_set():
        try:
            await session(outage)
            delay = outage.backoff.delay()  # ended early: started again, not at once
        except CONNECTION_ERRORS as exc:
            delay = outage.lost(exc)
        except Exception as exc:
            logger.exception("%s failed; starting again", what)
            delay = outage.lost(exc)
        await wait_or_stop(stop, delay)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
