"""Reporting: the national synthesis and every structure's report of an edition.

Starts an embedded PostgreSQL (in a temp dir), stores a realistic edition in reporting's
read model as its consumers would (registration's events, the default referential, the
published document of STRUCTURES structures), then in the same run:
  - the synthesis alone: its input built from the stored facts and its PDF rendered in a
    render process (started beforehand), as the service does;
  - `build_edition` with WORKERS render processes: every report (the synthesis, a detailed
    report per paying structure, a one-page result per free one) rendered, stored and
    recorded, as publication triggers it;
  - the same build again (everything already stored: nothing rendered);
and prints each time, the reports/s, pages, and the peak memory of this process and of its
render processes. Targets: synthesis < 3 s; 350 reports < 60 s; < 1 GiB.

    uv run python bench/reporting.py [STRUCTURES=350] [WORKERS=2]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from reporting_edition import realistic_edition

from baro_chassis.embedded import EmbeddedPostgres
from baro_chassis.postgres import ensure_database, open_application
from baro_chassis.settings import database_url_for
from baro_reporting import store
from baro_reporting.application import ReportingApplication
from baro_reporting.building import build_edition, edition_context, render_executor
from baro_reporting.documents import synthesis_input
from baro_reporting.facts import KEPT_REGISTRATION_EVENTS, producer_position
from baro_reporting.render import render_pdf
from reporting_builders import canonical


def argument(index: int, name: str, default: int) -> int:
    if len(sys.argv) > index:
        return int(sys.argv[index])
    return int(os.environ.get(f"BENCH_{name}", default))


class PeakMemory:
    """The largest resident memory of this process and its render processes together,
    sampled every 50 ms (PostgreSQL's processes, not ours, are left out)."""

    def __init__(self) -> None:
        self.peak = 0
        self.largest_child = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.05):
            children = []
            for child in me.children(recursive=True):
                try:
                    if "postgres" not in child.name():
                        children.append(child.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, me.memory_info().rss + sum(children))
            self.largest_child = max(self.largest_child, max(children, default=0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def load(database_url: str, structures: int) -> int:
    edition = realistic_edition(2027, structures)
    text = canonical(edition.document())
    published = edition.published(text)
    pool = await store.open_store(database_url)
    async with pool.acquire() as conn:
        for event in edition.registration_events:
            if event.event_type in KEPT_REGISTRATION_EVENTS:
                position = producer_position(event.event_id)[1]
                await store.keep_event(
                    conn, "registration_events", position, 2027, event.model_dump_json()
                )
        referential = edition.referential()
        await store.keep_event(
            conn,
            "referentials",
            producer_position(referential.event_id)[1],
            2027,
            referential.model_dump_json(),
        )
        await store.keep_publication(
            conn,
            producer_position(published.event_id)[1],
            {
                "edition": 2027,
                "fingerprint": published.fingerprint,
                "method": published.method,
                "included_through": published.included_through,
                "published_at": published.published_at,
                "published_by": published.published_by,
                "document": text.decode(),
            },
        )
    await pool.close()
    return len(text)


async def run(database_url: str, structures: int, workers: int) -> None:
    memory = PeakMemory()
    started = time.perf_counter()
    size = await load(database_url, structures)
    print(
        f"edition of {structures} structures stored ({size / 1e6:.1f} MB document) in "
        f"{time.perf_counter() - started:.1f}s"
    )
    application = open_application(ReportingApplication, database_url)
    pool = await store.open_store(database_url)
    try:
        executor = render_executor(1)
        loop = asyncio.get_running_loop()
        context = await edition_context(pool, application, 2027)
        first = synthesis_input(context)
        await loop.run_in_executor(executor, render_pdf, first)  # the process started, warm
        started = time.perf_counter()
        context = await edition_context(pool, application, 2027)
        synthesis = await loop.run_in_executor(executor, render_pdf, synthesis_input(context))
        executor.shutdown()
        print(
            f"synthesis: {time.perf_counter() - started:.2f}s ({synthesis.pages} pages, "
            f"{len(synthesis.pdf) / 1024:.0f} KiB), target < 3 s"
        )
        executor = render_executor(workers)
        try:
            for attempt in ("first build", "build again"):
                started = time.perf_counter()
                outcome = await build_edition(pool, application, 2027, executor=executor)
                elapsed = time.perf_counter() - started
                print(
                    f"{attempt}: {outcome.wanted} reports, {outcome.rendered} rendered, "
                    f"{outcome.already} already stored, in {elapsed:.1f}s "
                    f"({outcome.rendered / elapsed:.1f} rendered/s, {workers} workers)"
                )
        finally:
            executor.shutdown()
        async with pool.acquire() as conn:
            rows = await store.reports_of(conn, 2027)
        pages = sorted(r["pages"] for r in rows)
        kinds = {k: sum(1 for r in rows if r["kind"] == k) for k in ("synthesis", "paid", "free")}
        print(
            f"stored: {kinds}; pages per report {pages[0]}..{pages[-1]}; "
            f"{sum(r['size_bytes'] for r in rows) / 1e6:.1f} MB of PDF"
        )
    finally:
        await pool.close()
        application.close()
    memory.stop()
    print(
        f"peak memory, this process and its render processes together: "
        f"{memory.peak / 2**20:.0f} MiB (largest render process "
        f"{memory.largest_child / 2**20:.0f} MiB); target < 1 GiB"
    )


def main() -> None:
    structures = argument(1, "STRUCTURES", 350)
    workers = argument(2, "WORKERS", 2)
    with tempfile.TemporaryDirectory(prefix="baro-bench-reporting-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg", durable=False).start()
        try:
            url = database_url_for(postgres.url, "reporting")
            ensure_database(url)
            asyncio.run(run(url, structures, workers))
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
