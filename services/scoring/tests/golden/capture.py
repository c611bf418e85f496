"""Makes `edition_2029.jsonl.gz`: an edition published by the scoring service of the day
(commit 124932c, method baro-scoring-1), every message of its streams as they were.

Kept to show how the recording was made, not to be run again: the recording is what a
later scoring must replay to the same fingerprint. The edition is the benchmark's synthetic
one (40 structures, every category, ~5% of the probes corrected) with what a real campaign
also brings: a second referential version with fractional weights used by some probes,
"n/a" answers, an answer no item scores, an answer to an unknown item, an event delivered
twice, a message that is not a contract event, and a correction after the publication.

    uv run python services/scoring/tests/golden/capture.py OUT.jsonl.gz
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import nats
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))

from scoring import synthetic_edition  # bench/scoring.py of commit 124932c

from baro_chassis.consumers import ensure_streams
from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres
from baro_chassis.postgres import ensure_database
from baro_chassis.settings import database_url_for
from baro_chassis.testing import FakeClock, Tokens, settings_of
from baro_contracts import audit_v1 as audit
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM
from baro_scoring.main import create_app

YEAR = 2029
STRUCTURES = 40


def edge_cases(events: list) -> tuple[list, list]:
    """The audit log with the edge cases in it, and the events to send after publishing."""
    referential = next(e for e in events if isinstance(e, audit.ReferentialPublished))
    probes = [e for e in events if isinstance(e, audit.ProbeRecorded)]
    items = []
    for n, item in enumerate(referential.items):
        weight = Decimal("0.5") if n % 3 == 0 else Decimal("2.25") if n % 5 == 0 else item.weight
        items.append(item.model_copy(update={"weight": weight}))
    position = len(events)

    def numbered(event):
        nonlocal position
        position += 1
        return event.model_copy(update={"event_id": f"audit:{position}"})

    second = numbered(referential.model_copy(update={"referential_version": 2, "items": items}))
    changed = {}
    for n, probe in enumerate(probes):
        answers = dict(probe.answers)
        update = {}
        if n % 4 == 1:
            update["referential_version"] = 2
        if n % 7 == 0:
            code = sorted(answers)[0]
            answers[code] = audit.NOT_APPLICABLE
        if n % 11 == 0:
            code = sorted(answers)[-1]
            answers[code] = "not-a-choice-of-this-item"
        if n == 5:
            answers["ZZ-UNKNOWN-ITEM"] = True
        if answers != probe.answers:
            update["answers"] = answers
        if update:
            changed[probe.event_id] = probe.model_copy(update=update)
    log = [changed.get(getattr(e, "event_id", ""), e) for e in events]
    # The second referential comes before the probes that use it.
    at = next(i for i, e in enumerate(log) if isinstance(e, audit.ProbeRecorded))
    log.insert(at, second)
    target = probes[3]
    late = numbered(
        audit.ProbeCorrected(
            event_id="audit:0",
            occurred_at=datetime(YEAR, 9, 1, tzinfo=UTC),
            edition=YEAR,
            probe_id=target.probe_id,
            registration_id=target.registration_id,
            revision=9,
            answers={sorted(target.answers)[1]: audit.NOT_APPLICABLE},
            measures={},
            reason="late: after publication",
            corrected_by="admin",
            corrected_at=datetime(YEAR, 9, 1, tzinfo=UTC),
        )
    )
    return log, [late]


async def publish(nats_url: str, events: list, *, again: bool = False) -> None:
    await ensure_streams(nats_url, REGISTRATION_STREAM, AUDIT_STREAM)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for event in events:
            msg_id = event.event_id + ("/again" if again else "")
            await js.publish(
                event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
            )
    finally:
        await nc.close()


async def garbage(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(f"audit.v1.{YEAR}.probe_recorded", b"{not json")
    finally:
        await nc.close()


async def export(nats_url: str, out: Path) -> int:
    nc = await nats.connect(nats_url)
    lines = []
    try:
        js = nc.jetstream()
        for stream in ("REGISTRATION", "AUDIT", "SCORING"):
            info = await js.stream_info(stream)
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                lines.append(
                    {
                        "stream": stream,
                        "sequence": seq,
                        "subject": msg.subject,
                        "headers": dict(msg.headers or {}),
                        "data": base64.b64encode(msg.data or b"").decode(),
                    }
                )
    finally:
        await nc.close()
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    return len(lines)


def main(out: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="baro-golden-"))
    pg = EmbeddedPostgres(root / "pg").start()
    server = EmbeddedNats(root / "nats").start()
    try:
        edition = synthetic_edition(YEAR, STRUCTURES)
        log, late = edge_cases(edition.audit)
        asyncio.run(publish(server.url, [*edition.registration, *log]))
        asyncio.run(publish(server.url, [log[-1]], again=True))  # delivered twice
        asyncio.run(garbage(server.url))
        database_url = database_url_for(pg.url, "golden_scoring")
        ensure_database(database_url)
        settings = settings_of("scoring", database_url, server.url)
        clock = FakeClock(datetime(YEAR, 7, 1, 12, tzinfo=UTC))
        with TestClient(create_app(settings, clock=clock)) as client:
            admin = Tokens().admin
            deadline = time.monotonic() + 300
            while True:
                response = client.post(f"/editions/{YEAR}/publish", headers=admin)
                if response.status_code == 201:
                    break
                assert time.monotonic() < deadline, response.text
                time.sleep(0.5)
            print(json.dumps(response.json(), indent=1)[:2000])
            asyncio.run(publish(server.url, late))
            clock.advance(days=1)
            deadline = time.monotonic() + 60
            while (
                client.get(f"/editions/{YEAR}/publication").json()["events_after_publication"] < 1
            ):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            time.sleep(2)  # the relay publishes results_published
        print("messages:", asyncio.run(export(server.url, out)))
    finally:
        server.stop()
        pg.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
