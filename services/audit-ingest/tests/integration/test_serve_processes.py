"""`baro-audit-ingest serve` as it runs in the stack: the API and its probe writer process
live and die together."""

from __future__ import annotations

import os
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import psutil
import pytest

from baro_chassis.embedded import free_port, stop_process
from baro_chassis.stack import wait_healthy
from baro_chassis.testing import TEST_JWT_SECRET

pytestmark = pytest.mark.e2e


def start_serve(database_url: str, nats_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "AUDIT_INGEST_DATABASE_URL": database_url,
        "BARO_JWT_SECRET": TEST_JWT_SECRET,
    }
    script = Path(sysconfig.get_path("scripts")) / "baro-audit-ingest"
    process = subprocess.Popen([str(script), "serve", "--port", str(port)], env=env)
    wait_healthy(port, process)
    return process, port


def writer_of(serve: subprocess.Popen[bytes]) -> psutil.Process:
    children = psutil.Process(serve.pid).children()
    writers = [c for c in children if "writer" in c.cmdline()]
    assert len(writers) == 1, [c.cmdline() for c in children]
    return writers[0]


def test_stopping_serve_stops_its_writer(database_url: str, nats_url: str) -> None:
    serve, _ = start_serve(database_url, nats_url)
    writer = writer_of(serve)
    stop_process(serve)
    assert serve.returncode is not None
    writer.wait(30)
    assert not writer.is_running()


def test_serve_stops_when_its_writer_dies_so_its_supervisor_sees_it(
    database_url: str, nats_url: str
) -> None:
    serve, _ = start_serve(database_url, nats_url)
    try:
        writer_of(serve).send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 30
        while serve.poll() is None:
            assert time.monotonic() < deadline, "serve kept running without its writer"
            time.sleep(0.1)
    finally:
        stop_process(serve)


def test_a_writer_whose_serve_was_killed_hard_stops_by_itself(
    database_url: str, nats_url: str
) -> None:
    serve, _ = start_serve(database_url, nats_url)
    writer = writer_of(serve)
    try:
        serve.kill()
        serve.wait(10)
        writer.wait(30)
        assert not writer.is_running()
    finally:
        if writer.is_running():
            writer.kill()
