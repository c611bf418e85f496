"""The local stack behind `make up`: NATS and PostgreSQL (embedded unless NATS_URL and
DATABASE_URL are set), one database per service, every installed service as its own process.

It supervises: a service that dies is started again after a backoff ("restarting <name>"
in its output and in logs/stack.log). Its services end with it however it ends: Ctrl-C and
SIGTERM stop them in order; if it is killed, the kernel signals them (PR_SET_PDEATHSIG).
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from baro_chassis.auth import Role, issue_token
from baro_chassis.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    NatsCluster,
    stop_if_ours,
    stop_process,
)
from baro_chassis.postgres import ensure_database
from baro_chassis.processes import die_with_parent
from baro_chassis.resilience import Backoff
from baro_chassis.settings import (
    DEV_ONLY_JWT_SECRET,
    SERVICE_PORTS,
    database_url_for,
    service_database_name,
)

NATS_PORT = 14222
POSTGRES_PORT = 15432
# A service that ran this long before dying starts again at once (its backoff is reset).
STABLE_AFTER_SECONDS = 60.0


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


def wait_healthy(
    port: int, process: subprocess.Popen[bytes], timeout: float = 60, path: str = "/health"
) -> None:
    """Until the service on `port` answers 200 on `path` (`/ready`: it can work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            # HTTPException: on a port in the ephemeral range, a connection to a port nobody
            # listens on yet can connect to itself and read back its own request.
            # OSError: no answer yet, or 503 (an HTTPError) while a part is not ready.
            time.sleep(0.1)
    raise TimeoutError(f"no 200 on port {port}{path} within {timeout}s")


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    wait_healthy(port, process, timeout, path="/ready")


class Supervised:
    """A service's process, started again with backoff whenever it dies."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_dir = log_dir
        self.backoff = Backoff(first=0.5, cap=30.0)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None

    def start(self) -> subprocess.Popen[bytes]:
        command = service_command(self.name)
        assert command is not None
        log = open(self.log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the child
        # Its own session: Ctrl-C in the terminal reaches `baro up` only, which stops the
        # services in order. PDEATHSIG: they end if `baro up` is killed.
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        self.started_at = time.monotonic()
        return self.process

    def watch(self, say: Callable[[str], None]) -> None:
        """Called often: notice a death, and start the service again when its wait is over."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restart_at = None
                self.start()
                say(f"{self.name} started again (pid {self.pid})")
            return
        if self.process is None or self.process.poll() is None:
            return
        if now - self.started_at > STABLE_AFTER_SECONDS:
            self.backoff.reset()
        delay = self.backoff.delay()
        self.restart_at = now + delay
        say(
            f"{self.name} exited with code {self.process.returncode}; "
            f"restarting {self.name} in {delay:.1f}s"
        )

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def write_pids(pid_file: Path, services: dict[str, Supervised]) -> None:
    pid_file.write_text("".join(f"{name} {s.pid}\n" for name, s in services.items()))


def start_nats(data_dir: Path, cluster: int) -> EmbeddedNats | NatsCluster:
    """The embedded NATS: one server, or a JetStream cluster of `cluster` nodes on
    consecutive ports from BARO_NATS_PORT (routes on port + 2000, monitoring on + 4000)."""
    port = _port("BARO_NATS_PORT", NATS_PORT)
    if cluster <= 1:
        nats = EmbeddedNats(data_dir / "nats", port).start()
        print(f"NATS JetStream   {nats.url}  (embedded, data in {nats.store_dir})")
        return nats
    nodes = NatsCluster(data_dir / "nats-cluster", cluster, [port + i for i in range(cluster)])
    nodes.start()
    print(f"NATS JetStream   {nodes.url}")
    print(f"{'':17}(embedded {cluster}-node cluster, data in {data_dir / 'nats-cluster'})")
    return nodes


def up(data_dir: Path, *, nats_cluster: int = 0) -> int:
    started_at = time.monotonic()
    servers: list[EmbeddedNats | NatsCluster | EmbeddedPostgres] = []
    services: dict[str, Supervised] = {}
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pid_file = data_dir / "services.pid"
    try:
        stop_leftover_services(pid_file)
        nats_url = os.environ.get("NATS_URL")
        replicas = os.environ.get("BARO_STREAM_REPLICAS", "3" if nats_cluster > 1 else "1")
        if not nats_url:
            nats = start_nats(data_dir, nats_cluster)
            servers.append(nats)
            nats_url = nats.url
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

        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "DATABASE_URL": database_url,
            "BARO_STREAM_REPLICAS": replicas,
        }
        log_dir = data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)

        stack_log = log_dir / "stack.log"

        def say(line: str) -> None:
            stamped = f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}"
            print(line, file=sys.stderr, flush=True)
            with stack_log.open("a") as out:
                out.write(stamped + "\n")

        for name in SERVICE_PORTS:
            if service_command(name) is None:
                continue
            ensure_database(database_url_for(database_url, service_database_name(name)))
            services[name] = Supervised(name, env, log_dir)
            services[name].start()
        write_pids(pid_file, services)
        for name, service in services.items():
            assert service.process is not None
            try:
                wait_ready(service_port(name), service.process)
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
        while not stop.wait(0.2):
            pids = [service.pid for service in services.values()]
            for service in services.values():
                service.watch(say)
            if pids != [service.pid for service in services.values()]:
                write_pids(pid_file, services)
        return 0
    finally:
        for service in services.values():
            service.stop()
        pid_file.unlink(missing_ok=True)
        for server in reversed(servers):
            server.stop()
        print("Stopped.", flush=True)
