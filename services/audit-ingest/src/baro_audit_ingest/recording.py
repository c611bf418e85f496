"""Where the API hands a probe to be recorded: the probe writer in this process, or the
probe writer process, over a NATS request.

`baro-audit-ingest serve` runs the HTTP API in one process and the probe writer (with the
relay and the registration consumer) in a child process, so recording probes and serving
HTTP each have a core and an interpreter lock of their own. Tests and `--single-process`
keep the writer in the API's process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any, Protocol

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from baro_audit_ingest.domain import AuditError
from baro_audit_ingest.schemas import ProbeIn, ProbeOut, refusal_body
from baro_audit_ingest.writer import ProbeWriter
from baro_chassis.errors import busy
from baro_chassis.eventstore import Contention
from baro_chassis.nats import connect

log = logging.getLogger(__name__)

SUBJECT = "audit-ingest.internal.record-probe"
QUEUE = "probe-writers"
STATUS = "Baro-Status"
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Recorded:
    status: int
    body: bytes


class ProbeRecorder(Protocol):
    async def record(
        self, year: int, probe: ProbeIn, recorded_by: str, carrier: dict[str, str]
    ) -> Recorded: ...


async def record_with(
    writer: ProbeWriter, year: int, probe: ProbeIn, recorded_by: str, carrier: dict[str, str]
) -> Recorded:
    """201 with the new probe, 200 with the original on a resubmission, or the refusal."""
    future = writer.submit(year, probe.submission(), recorded_by, carrier)
    try:
        recorded, created = await asyncio.wrap_future(future)
    except AuditError as refusal:
        return Recorded(refusal.status, json.dumps(refusal_body(refusal)).encode())
    except Contention as exc:
        error = busy(exc)
        return Recorded(error.status, json.dumps(error.body()).encode())
    return Recorded(201 if created else 200, ProbeOut.of(recorded).model_dump_json().encode())


class LocalRecorder:
    def __init__(self, writer: ProbeWriter) -> None:
        self.writer = writer

    async def record(
        self, year: int, probe: ProbeIn, recorded_by: str, carrier: dict[str, str]
    ) -> Recorded:
        return await record_with(self.writer, year, probe, recorded_by, carrier)


class RemoteRecorder:
    """Sends each probe to the probe writer process and relays its answer as it is."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc

    async def record(
        self, year: int, probe: ProbeIn, recorded_by: str, carrier: dict[str, str]
    ) -> Recorded:
        envelope = {
            "year": year,
            "recorded_by": recorded_by,
            "carrier": carrier,
            "probe": probe.model_dump(mode="json"),
        }
        try:
            reply = await self.nc.request(
                SUBJECT, json.dumps(envelope).encode(), timeout=REQUEST_TIMEOUT_SECONDS
            )
        except (NoRespondersError, NatsTimeout) as exc:
            body = {
                "error": "unavailable",
                "message": f"the probe writer did not answer ({type(exc).__name__}); "
                "nothing was recorded unless a retry with the same probe_id says so",
                "errors": [],
            }
            return Recorded(503, json.dumps(body).encode())
        return Recorded(int((reply.headers or {}).get(STATUS, "500")), reply.data)

    async def wait_ready(self, wait_seconds: float = 60.0) -> None:
        """Until a probe writer answers (it starts in its own process)."""
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:
            try:
                await self.nc.request(SUBJECT, b'{"ping": true}', timeout=1.0)
                return
            except (NoRespondersError, NatsTimeout):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)


class WriterEndpoint:
    """The probe writer's side: answers each request once its probe's batch is committed."""

    def __init__(self, writer: ProbeWriter, nc: Client) -> None:
        self.writer = writer
        self.nc = nc
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.nc.subscribe(SUBJECT, queue=QUEUE, cb=self._on_request)

    async def _on_request(self, msg: Msg) -> None:
        # A task per request: the subscription's callbacks run one at a time, and the
        # writer commits every probe waiting together.
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            envelope: dict[str, Any] = json.loads(msg.data)
            if envelope.get("ping"):
                recorded = Recorded(204, b"")
            else:
                probe = ProbeIn.model_validate(envelope["probe"])
                recorded = await record_with(
                    self.writer,
                    int(envelope["year"]),
                    probe,
                    str(envelope["recorded_by"]),
                    dict(envelope.get("carrier") or {}),
                )
        except Exception as exc:
            log.exception("probe writer: could not record a probe")
            body = {"error": "internal", "message": f"the probe writer failed: {exc}", "errors": []}
            recorded = Recorded(500, json.dumps(body).encode())
        await self.nc.publish(msg.reply, recorded.body, headers={STATUS: str(recorded.status)})


async def answer_probe_requests(writer: ProbeWriter, nats_url: str, stop: asyncio.Event) -> None:
    """The probe writer process's work until `stop`: answer the API's probe requests."""
    nc = await connect(nats_url, "audit-ingest-probe-writer")
    try:
        await WriterEndpoint(writer, nc).start()
        await stop.wait()
    finally:
        await nc.drain()


async def stop_when_told_or_orphaned(stop: asyncio.Event) -> None:
    """Set `stop` on SIGINT or SIGTERM, or when the process that started this one is gone
    (killed hard, it could not stop its child)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
        await asyncio.sleep(0.5)
