"""The local stack behind `make up`: NATS and PostgreSQL (embedded unless NATS_URL and
DATABASE_URL are set), one database per service, every installed service as its own process.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from baro_chassis.auth import Role, issue_token
from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres, stop_if_ours, stop_process
from baro_chassis.postgres import ensure_database
from baro_chassis.settings import (
    DEV_ONLY_JWT_SECRET,
    SERVICE_PORTS,
    database_url_for,
    service_database_name,
)

NATS_PORT = 14222
POSTGRES_PORT = 15432


def _port(variable: str, default: int) -> int:
    return int(os.environ.get(variable, default))


def service_port(name: str) -> int:
    """The service's port: 8001..8005, shifted by BARO_PORT_OFFSET (to run two stacks)."""
    return SERVICE_PORTS[name] + _port("BARO_PORT_OFFSET", 0)


def service_command(name: str) -> list[str] | None:
    script = Path(sysconfig.get_path("scripts")) / f"baro-{name}"
    return [str(script), "serve", "--port", str(service_port(name))] if script.exists() else None


def load_demo(env: dict[str, str]) -> None:
    """Load the demo edition (next year's) with audit-ingest's campaign generator when that
    edition does not exist yet. BARO_DEMO=0 skips it; BARO_DEMO_STRUCTURES sets its size."""
    script = Path(sysconfig.get_path("scripts")) / "baro-audit-ingest"
    if env.get("BARO_DEMO", "1") == "0" or not script.exists():
        return
    year = datetime.now(UTC).year + 1
    structures = env.get("BARO_DEMO_STRUCTURES", "60")
    print(f"Demo edition {year} ({structures} structures; BARO_DEMO=0 skips it)...", flush=True)
    command = [
        str(script),
        "demo",
        "--edition",
        str(year),
        "--structures",
        structures,
        "--registration-url",
        f"http://127.0.0.1:{service_port('registration')}",
        "--audit-url",
        f"http://127.0.0.1:{service_port('audit-ingest')}",
    ]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    for line in result.stdout.splitlines():
        print(f"  {line}")
    if result.returncode != 0:
        print(f"  the demo did not load fully:\n{result.stderr[-2000:]}", file=sys.stderr)


def stop_leftover_services(pid_file: Path) -> None:
    """Stop services that an earlier `baro up`, killed without cleaning up, left running."""
    if not pid_file.exists():
        return
    for line in pid_file.read_text().splitlines():
        name, _, pid = line.partition(" ")
        if pid.isdigit():
            stop_if_ours(int(pid), f"baro-{name}")
    pid_file.unlink()


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            # HTTPException: on a port in the ephemeral range, a connection to a port nobody
            # listens on yet can connect to itself and read back its own request.
            time.sleep(0.1)
    raise TimeoutError(f"no answer on port {port} within {timeout}s")


def up(data_dir: Path) -> int:
    started_at = time.monotonic()
    servers: list[EmbeddedNats | EmbeddedPostgres] = []
    services: dict[str, subprocess.Popen[bytes]] = {}
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pid_file = data_dir / "services.pid"
    try:
        stop_leftover_services(pid_file)
        nats_url = os.environ.get("NATS_URL")
        if not nats_url:
            nats = EmbeddedNats(data_dir / "nats", _port("BARO_NATS_PORT", NATS_PORT)).start()
            servers.append(nats)
            nats_url = nats.url
            print(f"NATS JetStream   {nats_url}  (embedded, data in {nats.store_dir})")
        else:
            print(f"NATS JetStream   {nats_url}  (external)")
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            postgres = EmbeddedPostgres(
                data_dir / "postgres", _port("BARO_POSTGRES_PORT", POSTGRES_PORT)
            ).start()
            servers.append(postgres)
            database_url = postgres.url
            print(f"PostgreSQL       {database_url}  (embedded, data in {postgres.data_dir})")
        else:
            print(f"PostgreSQL       {database_url}  (external)")

        env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": database_url}
        log_dir = data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)

        for name in SERVICE_PORTS:
            command = service_command(name)
            if command is None:
                continue
            ensure_database(database_url_for(database_url, service_database_name(name)))
            log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
            services[name] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            with pid_file.open("a") as pids:
                pids.write(f"{name} {services[name].pid}\n")
        for name, process in services.items():
            try:
                wait_healthy(service_port(name), process)
            except (RuntimeError, TimeoutError) as exc:
                print(f"{name} failed to start ({exc}); see {log_dir / name}.log", file=sys.stderr)
                return 1
        if {"registration", "audit-ingest"} <= services.keys():
            load_demo(env)
        elapsed = time.monotonic() - started_at
        print(f"\nReady in {elapsed:.1f}s. Services (logs in {log_dir}):")
        for name in services:
            print(f"  {name:<14} http://127.0.0.1:{service_port(name)}/docs")
        secret = os.environ.get("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET)
        print("\nDev admin token (DEV ONLY, valid 12 h; `uv run baro token --role ROLE` for more):")
        print(f"  {issue_token(secret, roles=(Role.ADMIN,))}")
        print("\nCtrl-C stops everything.", flush=True)
        while not stop.wait(0.5):
            for name, process in services.items():
                if process.poll() is not None:
                    print(
                        f"{name} exited with code {process.returncode}; stopping", file=sys.stderr
                    )
                    return 1
        return 0
    finally:
        for process in services.values():
            stop_process(process)
        pid_file.unlink(missing_ok=True)
        for server in reversed(servers):
            server.stop()
        print("Stopped.", flush=True)
