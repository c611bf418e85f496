"""`baro-registration serve` as a real process, stopped as Kubernetes stops a pod (SIGTERM):
it says it is draining, answers what it is sent meanwhile, publishes it, and exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from baro_chassis.embedded import free_port
from baro_chassis.testing import TEST_JWT_SECRET, Tokens, read_stream
from registration_builders import EDITION, registration_body

pytestmark = pytest.mark.integration

DRAIN_SECONDS = 1.5
EXIT_BOUND_SECONDS = 20


@pytest.fixture
def serve(
    database_url: str, nats_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    log = tmp_path / "registration.log"
    env = {
        **os.environ,
        "REGISTRATION_DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "BARO_JWT_SECRET": TEST_JWT_SECRET,
        "BARO_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "BARO_LOG_LEVEL": "INFO",
    }
    script = Path(sysconfig.get_path("scripts")) / "baro-registration"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(script), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
        time.sleep(0.1)


def test_sigterm_drains_answers_what_it_was_sent_and_exits_zero(
    serve: tuple[subprocess.Popen[bytes], str, Path], tokens: Tokens, nats_url: str
) -> None:
    process, base, log = serve
    wait_ready(base, process, log)
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.post("/editions", json=EDITION, headers=tokens.admin).status_code == 201
        before = client.post(
            "/editions/2027/registrations", json=registration_body(1), headers=tokens.frontend
        )
        assert before.status_code == 201, before.text

        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        draining = client.get("/ready")
        assert draining.status_code == 503
        assert draining.json()["parts"]["process"]["detail"].startswith("draining")
        during = client.post(
            "/editions/2027/registrations", json=registration_body(2), headers=tokens.frontend
        )
        assert during.status_code == 201, during.text

    assert process.wait(timeout=EXIT_BOUND_SECONDS) == 0, log.read_text()
    assert time.monotonic() - stopped_at < EXIT_BOUND_SECONDS

    # Edition opened and two registrations: every acknowledged one is on the stream.
    messages = asyncio.run(read_stream(nats_url, "REGISTRATION", 3))
    registered = {
        json.loads(m.data).get("registration_id")
        for m in messages
        if json.loads(m.data)["event_type"].endswith("registered")
    }
    assert {before.json()["registration_id"], during.json()["registration_id"]} <= registered
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert lines
    assert all(line["service"] == "registration" for line in lines)
