"""`baro-audit-ingest serve` as it runs in the stack: the API runs its probe writer process,
starts it again when it dies, and takes it down when it stops or is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import httpx
import psutil
import pytest

from baro_chassis.embedded import free_port, stop_process
from baro_chassis.stack import wait_healthy
from baro_chassis.testing import TEST_JWT_SECRET

pytestmark = pytest.mark.e2e


SCRIPT = Path(sysconfig.get_path("scripts")) / "baro-audit-ingest"


def service_env(database_url: str, nats_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "NATS_URL": nats_url,
        "AUDIT_INGEST_DATABASE_URL": database_url,
        "BARO_JWT_SECRET": TEST_JWT_SECRET,
    }


def start_serve(
    database_url: str, nats_url: str, *options: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = service_env(database_url, nats_url)
    process = subprocess.Popen([str(SCRIPT), "serve", "--port", str(port), *options], env=env)
    wait_healthy(port, process)
    return process, port


def wait_until_ready(port: int, serve: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while ready(port).status_code != 200:
        assert serve.poll() is None, "serve stopped"
        assert time.monotonic() < deadline, ready(port).text
        time.sleep(0.1)


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


def ready(port: int) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)


def test_serve_restarts_its_writer_when_it_dies_and_is_ready_again(
    database_url: str, nats_url: str
) -> None:
    serve, port = start_serve(database_url, nats_url)
    try:
        wait_until_ready(port, serve)
        first = writer_of(serve)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # Meanwhile the API answers, and says which part is missing.
        down = ready(port)
        if down.status_code == 503:
            assert "probe_writer" in down.json()["not_ready"], down.text
        deadline = time.monotonic() + 60
        while ready(port).status_code != 200:
            assert serve.poll() is None, "serve stopped instead of restarting its writer"
            assert time.monotonic() < deadline, ready(port).text
            time.sleep(0.1)
        assert writer_of(serve).pid != first.pid
        assert serve.poll() is None
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


def test_the_api_and_its_probe_writer_run_as_separate_deployments(
    database_url: str, nats_url: str
) -> None:
    """`serve --no-writer` (the API's Deployment) starts no writer, and says it lacks one
    until `baro-audit-ingest writer` (the writers' Deployment) runs beside it."""
    serve, port = start_serve(database_url, nats_url, "--no-writer")
    writer: subprocess.Popen[bytes] | None = None
    try:
        assert psutil.Process(serve.pid).children() == []
        deadline = time.monotonic() + 60
        while (answer := ready(port)).status_code != 503 or answer.json()["not_ready"] != [
            "probe_writer"
        ]:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        writer = subprocess.Popen([str(SCRIPT), "writer"], env=service_env(database_url, nats_url))
        wait_until_ready(port, serve)
    finally:
        stop_process(serve)
        if writer is not None:
            stop_process(writer)
