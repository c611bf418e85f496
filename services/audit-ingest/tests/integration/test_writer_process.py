"""The API handing probes to the probe writer over NATS (how `serve` runs): the same answers
as in one process, and a clear 503 when the writer is not there."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import nats
import pytest
from fastapi.testclient import TestClient
from nats.aio.msg import Msg

from audit_builders import (
    assert_refused,
    edition_opened,
    probe_body,
    registration_closed,
    structure_registered,
)
from baro_audit_ingest import recording
from baro_audit_ingest.consumers import apply_registration_event
from baro_audit_ingest.main import build_application, create_app
from baro_audit_ingest.recording import answer_probe_requests
from baro_audit_ingest.writer import ProbeWriter
from baro_chassis.settings import Settings
from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg
from baro_contracts.audit_v1 import Channel

pytestmark = pytest.mark.integration


class WriterProcess:
    """The probe writer's work on its own thread and event loop, as in its own process."""

    def __init__(self, settings: Settings, *events: object) -> None:
        self.settings = settings
        self.events = events
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        application = build_application(self.settings)
        for event in self.events:
            apply_registration_event(application, event)
        self.ready.set()
        writer = ProbeWriter(application)
        writer.start()
        try:
            await answer_probe_requests(writer, self.settings.nats_url, self.stop)
        finally:
            await asyncio.to_thread(writer.stop)
            application.close()

    def __enter__(self) -> WriterProcess:
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop.set)
            self.thread.join(30)


@pytest.fixture
def registered() -> reg.StructureRegistered:
    return structure_registered()


@pytest.fixture
def writer(
    audit_settings: Settings, registered: reg.StructureRegistered
) -> Iterator[WriterProcess]:
    with WriterProcess(
        audit_settings, edition_opened(), registered, registration_closed()
    ) as process:
        yield process


def test_probes_sent_to_the_writer_process_are_answered_as_in_one_process(
    audit_settings: Settings,
    writer: WriterProcess,
    registered: reg.StructureRegistered,
    tokens: Tokens,
) -> None:
    with TestClient(create_app(audit_settings, remote_writer=True)) as api:
        body = probe_body(registered, Channel.PHONE, performed_at=None)
        created = api.post("/editions/2027/probes", json=body, headers=tokens.auditor)
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == f"/editions/2027/probes/{body['probe_id']}"
        again = api.post("/editions/2027/probes", json=body, headers=tokens.auditor)
        assert (again.status_code, again.json()) == (200, created.json())
        assert_refused(
            api.post(
                "/editions/2027/probes",
                json={**body, "auditor_id": "MC-999"},
                headers=tokens.auditor,
            ),
            409,
            "already recorded",
        )
        wrong = probe_body(registered, Channel.EMAIL, answers={"EML-ACC-01": "yes"})
        assert_refused(
            api.post("/editions/2027/probes", json=wrong, headers=tokens.auditor), 422, "EML-ACC-01"
        )
        stored = api.get(f"/editions/2027/probes/{body['probe_id']}", headers=tokens.auditor)
        assert stored.json() == created.json()


def test_without_a_writer_process_a_probe_is_refused_with_503_and_nothing_is_stored(
    audit_settings: Settings,
    writer: WriterProcess,
    registered: reg.StructureRegistered,
    tokens: Tokens,
) -> None:
    with TestClient(create_app(audit_settings, remote_writer=True)) as api:
        writer.__exit__()
        body = probe_body(registered, Channel.PHONE)
        refused = assert_refused(
            api.post("/editions/2027/probes", json=body, headers=tokens.auditor),
            503,
            "probe writer",
        )
        assert refused["error"] == "unavailable"
        assert (
            api.get(f"/editions/2027/probes/{body['probe_id']}", headers=tokens.auditor).status_code
            == 404
        )


def test_probes_that_reach_the_writer_together_each_get_their_own_answer(
    audit_settings: Settings,
    writer: WriterProcess,
    registered: reg.StructureRegistered,
    tokens: Tokens,
) -> None:
    """The API sends the probes waiting at once in one request to the writer (the batch
    endpoint's all arrive together): each answer goes back to its own probe."""
    first = probe_body(registered, Channel.PHONE)
    good = [probe_body(registered, Channel.PHONE) for _ in range(3)]
    wrong = probe_body(registered, Channel.EMAIL, answers={"EML-ACC-01": "yes"})
    probes = [first, *good, wrong, first]
    with TestClient(create_app(audit_settings, remote_writer=True)) as api:
        batch = api.post(
            "/editions/2027/probes/batch", json={"probes": probes}, headers=tokens.auditor
        )
        assert batch.status_code == 200, batch.text
        results = batch.json()["results"]
        assert [r["status"] for r in results] == [201, 201, 201, 201, 422, 200]
        assert [r["probe_id"] for r in results] == [p["probe_id"] for p in probes]
        assert "EML-ACC-01" in results[4]["error"]["message"]
        again = api.post(
            "/editions/2027/probes/batch", json={"probes": probes}, headers=tokens.auditor
        )
        assert [r["status"] for r in again.json()["results"]] == [200, 200, 200, 200, 422, 200]
        for body in probes[:4]:
            stored = api.get(f"/editions/2027/probes/{body['probe_id']}", headers=tokens.auditor)
            assert stored.json()["auditor_id"] == body["auditor_id"]


class _Probe:
    """What the recorder sends of a probe (its JSON)."""

    def __init__(self, number: int) -> None:
        self.number = number

    def model_dump(self, mode: str) -> dict[str, int]:
        return {"number": number} if (number := self.number) else {}


def test_requests_a_killed_writer_never_answers_hold_no_later_probe_up(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer killed mid-batch never answers the requests it had taken; the probes posted
    after them go to the writer that answers, instead of waiting for those to time out."""
    monkeypatch.setattr(recording, "STALLED_SECONDS", 0.2)
    monkeypatch.setattr(recording, "REQUEST_TIMEOUT_SECONDS", 20.0)

    async def run() -> list[tuple[int, int]]:
        nc = await nats.connect(nats_url)
        taken: list[Msg] = []

        async def writer(msg: Msg) -> None:
            taken.append(msg)
            if len(taken) <= recording.IN_FLIGHT:
                return  # as a writer killed before answering
            count = len(json.loads(msg.data)["probes"])
            headers, body = recording.pack([recording.Recorded(201, b"{}")] * count)
            await nc.publish(msg.reply, body, headers=headers)

        await nc.subscribe(recording.SUBJECT, queue=recording.QUEUE, cb=writer)
        recorder = recording.RemoteRecorder(nc)
        finished: list[tuple[int, int]] = []

        async def post(number: int) -> None:
            answer = await recorder.record(2027, _Probe(number), "auditor", {})  # type: ignore[arg-type]
            finished.append((number, answer.status))

        stuck = []
        for number in range(1, recording.IN_FLIGHT + 1):
            stuck.append(asyncio.create_task(post(number)))
            deadline = asyncio.get_running_loop().time() + 10
            while len(taken) < number:  # each stuck probe in a request of its own
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
        await post(99)
        await asyncio.gather(*stuck)
        await nc.close()
        return finished

    finished = asyncio.run(run())
    # The later probe is recorded first; the stuck ones get 503 when their requests time out.
    assert finished[0] == (99, 201)
    assert sorted(finished[1:]) == [(n, 503) for n in range(1, recording.IN_FLIGHT + 1)]
