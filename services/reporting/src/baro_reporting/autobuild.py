"""Publication triggers its reports by itself: a background task that builds an edition's
reports when its publication (or a new editorial version) arrives, and at start for any
edition whose reports a stopped process left unfinished."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Executor

import asyncpg

from baro_reporting import store
from baro_reporting.application import ReportingApplication
from baro_reporting.building import build_edition

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


class AutoBuild:
    def __init__(
        self, pool: asyncpg.Pool, application: ReportingApplication, executor: Executor
    ) -> None:
        self.pool = pool
        self.application = application
        self.executor = executor
        self._editions: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self, edition: int) -> None:
        """Build `edition`'s missing reports soon (callable from the event loop only)."""
        self._editions.add(edition)
        self._wake.set()

    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            self._editions.update(await store.published_editions(conn))
        self._wake.set()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._editions:
                edition = min(self._editions)
                self._editions.discard(edition)
                try:
                    outcome = await build_edition(
                        self.pool, self.application, edition, executor=self.executor
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("building edition %s's reports failed; retrying", edition)
                    self._editions.add(edition)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if outcome.rendered:
                    log.info(
                        "edition %s: %s reports rendered, %s were already (fingerprint %s)",
                        edition,
                        outcome.rendered,
                        outcome.already,
                        outcome.fingerprint,
                    )
