"""Where the API hands a probe to be recorded: the probe writer in this process, or the
probe writer process, over a NATS request.

`baro-audit-ingest serve` runs the HTTP API in one process and the probe writer (with the
relay and the registration consumer) in a child process, so recording probes and serving
HTTP each have a core and an interpreter lock of their own. Tests and `--single-process`
keep the writer in the API's process. A request to the writer carries every probe that
arrived meanwhile; its reply, every answer.
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
LENGTHS = "Baro-Lengths"
IN_FLIGHT = 2
MAX_PROBES = 256  # per request: the writer's batch
REQUEST_TIMEOUT_SECONDS = 30.0
STALLED_SECONDS = 2.0
"""A request unanswered this long no longer holds one of the `IN_FLIGHT` places (its writer
may have been killed mid-batch, and would never answer it)."""


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
    """Sends probes to the probe writer process and relays each answer as it is.

    The probes that arrive while earlier ones are on their way go together in the next
    request: one NATS round trip (and one task in each process) for many probes rather than
    one each, which would cost more of the two processes' CPU the more clients post at once.
    The writer commits them together anyway. At most `IN_FLIGHT` requests are on their way,
    so the writer always has the next probes waiting while it commits; one unanswered for
    `STALLED_SECONDS` gives its place up, so a writer killed mid-batch holds nobody else up
    beyond that.
    """

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[Recorded]]] = []
        self._in_flight = 0
        self._sends: set[asyncio.Task[None]] = set()

    async def record(
        self, year: int, probe: ProbeIn, recorded_by: str, carrier: dict[str, str]
    ) -> Recorded:
        envelope = {
            "year": year,
            "recorded_by": recorded_by,
            "carrier": carrier,
            "probe": probe.model_dump(mode="json"),
        }
        answer: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._waiting.append((envelope, answer))
        if len(self._waiting) == 1 and self._in_flight < IN_FLIGHT:
            # After the other requests ready in this turn of the loop, which join this one.
            asyncio.get_running_loop().call_soon(self._send_waiting)
        return await answer

    def _send_waiting(self) -> None:
        while self._waiting and self._in_flight < IN_FLIGHT:
            waiting, self._waiting = self._waiting[:MAX_PROBES], self._waiting[MAX_PROBES:]
            self._in_flight += 1
            task = asyncio.create_task(self._send(waiting))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _send(self, waiting: list[tuple[dict[str, Any], asyncio.Future[Recorded]]]) -> None:
        request = asyncio.create_task(self._request([e for e, _ in waiting]))  # noqa: RUF006
        holding = True

        def release() -> None:
            nonlocal holding
            if holding:
                holding = False
                self._in_flight -= 1
                self._send_waiting()

        try:
            # The next probes go to a writer that answers while this waits for its own
            # answer or its timeout (503).
            await asyncio.wait({request}, timeout=STALLED_SECONDS)
            release()
            answers = await request
        except Exception as exc:  # NATS closed, say: each caller hears why
            answers = None
            for _, answer in waiting:
                if not answer.done():
                    answer.set_exception(exc)
        finally:
            release()
        for (_, answer), recorded in zip(waiting, answers or [], strict=False):
            if not answer.done():
                answer.set_result(recorded)

    async def _request(self, envelopes: list[dict[str, Any]]) -> list[Recorded]:
        try:
            reply = await self.nc.request(
                SUBJECT,
                json.dumps({"probes": envelopes}).encode(),
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except (NoRespondersError, NatsTimeout) as exc:
            body = {
                "error": "unavailable",
                "message": f"the probe writer did not answer ({type(exc).__name__}); "
                "nothing was recorded unless a retry with the same probe_id says so",
                "errors": [],
            }
            return [Recorded(503, json.dumps(body).encode())] * len(envelopes)
        return unpack(reply.headers or {}, reply.data, len(envelopes))

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


def pack(answers: list[Recorded]) -> tuple[dict[str, str], bytes]:
    """Several answers in one reply: their statuses and body lengths in headers, the bodies
    one after the other (so no body is encoded again)."""
    headers = {
        STATUS: ",".join(str(a.status) for a in answers),
        LENGTHS: ",".join(str(len(a.body)) for a in answers),
    }
    return headers, b"".join(a.body for a in answers)


def unpack(headers: dict[str, str], data: bytes, count: int) -> list[Recorded]:
    statuses = [int(s) for s in headers.get(STATUS, "").split(",") if s]
    lengths = [int(n) for n in headers.get(LENGTHS, "").split(",") if n]
    if len(statuses) != count or len(lengths) != count:
        body = {"error": "internal", "message": data.decode(errors="replace"), "errors": []}
        return [Recorded(500, json.dumps(body).encode())] * count
    answers, offset = [], 0
    for status, length in zip(statuses, lengths, strict=True):
        answers.append(Recorded(status, data[offset : offset + length]))
        offset += length
    return answers


class WriterEndpoint:
    """The probe writer's side: answers each request once its probes' batch is committed."""

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
            request: dict[str, Any] = json.loads(msg.data)
            if request.get("ping"):
                headers, data = pack([])
            else:
                answers = await asyncio.gather(*map(self._record, request["probes"]))
                headers, data = pack(list(answers))
        except Exception as exc:
            log.exception("probe writer: could not read a request")
            headers, data = {}, f"the probe writer failed: {exc}".encode()
        await self.nc.publish(msg.reply, data, headers=headers)

    async def _record(self, envelope: dict[str, Any]) -> Recorded:
        try:
            return await record_with(
                self.writer,
                int(envelope["year"]),
                ProbeIn.model_validate(envelope["probe"]),
                str(envelope["recorded_by"]),
                dict(envelope.get("carrier") or {}),
            )
        except Exception as exc:
            log.exception("probe writer: could not record a probe")
            body = {"error": "internal", "message": f"the probe writer failed: {exc}", "errors": []}
            return Recorded(500, json.dumps(body).encode())


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
