"""The stack under test as real processes: `baro up` (its supervision is what must restart
what crashes) on the test's own NATS and PostgreSQL, plus audit-ingest's relay run as its
own process, started first so that it is the active relay and the writer's is its standby.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from fault_servers import REPLICAS, RestartableCluster, RestartablePostgres

from baro_chassis.auth import Role, issue_token
from baro_chassis.embedded import stop_process
from baro_chassis.postgres import ensure_database
from baro_chassis.settings import (
    DEV_ONLY_JWT_SECRET,
    SERVICE_PORTS,
    database_url_for,
    service_database_name,
)

SCRIPTS = Path(sysconfig.get_path("scripts"))
READY_TIMEOUT = 90.0


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEV_ONLY_JWT_SECRET, roles=(Role.ADMIN,))}"}


def auditor_headers() -> dict[str, str]:
    token = issue_token(DEV_ONLY_JWT_SECRET, roles=(Role.AUDITOR,), subject="capture-app")
    return {"Authorization": f"Bearer {token}"}


@dataclass
class FaultStack:
    root: Path
    nats: RestartableCluster
    postgres: RestartablePostgres
    port_offset: int
    up: subprocess.Popen[bytes] | None = None
    relay: subprocess.Popen[bytes] | None = None
    stack_starts: int = 0
    outputs: list[Path] = field(default_factory=list)

    # --- where things are --------------------------------------------------------------

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{SERVICE_PORTS[service] + self.port_offset}"

    def database_url(self, service: str) -> str:
        return database_url_for(self.postgres.url, service_database_name(service))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
        env.update(
            NATS_URL=self.nats.url,
            DATABASE_URL=self.postgres.url,
            BARO_PORT_OFFSET=str(self.port_offset),
            BARO_DEMO="0",
            BARO_JWT_SECRET=DEV_ONLY_JWT_SECRET,
            BARO_STREAM_REPLICAS=str(REPLICAS),
        )
        return env

    # --- starting and stopping ---------------------------------------------------------

    def start(self) -> None:
        self.nats.start()
        self.postgres.start()
        self.start_relay()
        self.start_up()

    def start_relay(self) -> None:
        """`baro-audit-ingest relay`, waiting until it holds the relay's lock."""
        ensure_database(self.database_url("audit-ingest"))
        log = (self.root / "audit-ingest-relay.log").open("ab")
        self.relay = subprocess.Popen(
            [str(SCRIPTS / "baro-audit-ingest"), "relay"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while asyncio.run(self.relay_holder_pid()) != self.relay.pid:
            assert self.relay.poll() is None, "the audit-ingest relay exited while starting"
            assert time.monotonic() < deadline, "the audit-ingest relay never took its lock"
            time.sleep(0.2)

    def start_up(self) -> None:
        """`baro up` on the test's servers, until it says it is ready."""
        self.stack_starts += 1
        output = self.root / f"baro-up-{self.stack_starts}.out"
        self.outputs.append(output)
        self.up = subprocess.Popen(
            [str(SCRIPTS / "baro"), "up", "--data-dir", str(self.root / "stack")],
            env=self.env(),
            stdout=output.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while "Ctrl-C stops everything." not in output.read_text():
            assert self.up.poll() is None, f"baro up exited:\n{self.report()}"
            assert time.monotonic() < deadline, f"baro up not ready:\n{self.report()}"
            time.sleep(0.2)

    def stop_up(self) -> None:
        """Ctrl-C, as a user would; then, by PID, whatever it left running."""
        if self.up is None:
            return
        services = self.service_processes()
        if self.up.poll() is None:
            self.up.send_signal(signal.SIGINT)
            try:
                self.up.wait(60)
            except subprocess.TimeoutExpired:
                self.up.kill()
                self.up.wait(10)
        for process in services:
            kill_if_running(process)

    def stop(self) -> None:
        self.stop_up()
        if self.relay is not None:
            stop_process(self.relay)
        self.nats.stop()
        self.postgres.stop()

    def report(self) -> str:
        """What `baro up` printed, and the end of each service's log (why one failed)."""
        parts = [p.read_text(errors="replace")[-3000:] for p in self.outputs[-1:]]
        for log in sorted((self.root / "stack" / "logs").glob("*.log")):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            parts.append(f"--- {log.name}:\n{tail}")
        return "\n".join(parts)

    # --- the processes -----------------------------------------------------------------

    def up_exited(self) -> bool:
        """`baro up` is gone: nothing will restart anything until the harness does."""
        return self.up is None or self.up.poll() is not None

    def service_processes(self) -> list[psutil.Process]:
        if self.up is None or self.up.poll() is not None:
            return []
        try:
            return psutil.Process(self.up.pid).children(recursive=True)
        except psutil.Error:
            return []

    def api_process(self, service: str) -> psutil.Process:
        """`baro-<service> serve`, as `baro up` runs it now (a restart gives a new PID)."""
        for process in self.service_processes():
            command = safe_cmdline(process)
            if any(part.endswith(f"baro-{service}") for part in command) and "serve" in command:
                return process
        raise AssertionError(f"no running `baro-{service} serve` under baro up:\n{self.report()}")

    def writer_process(self) -> psutil.Process:
        """audit-ingest's probe writer, a child of its `serve`."""
        api = self.api_process("audit-ingest")
        for process in api.children(recursive=True):
            if "writer" in safe_cmdline(process):
                return process
        raise AssertionError(f"audit-ingest's probe writer is not running:\n{self.report()}")

    async def relay_holder_pid(self) -> int | None:
        """The PID of the process whose database session holds audit-ingest's relay lock
        (`pg_try_advisory_lock(hashtext('audit-ingest'))`): the active relay."""
        try:
            conn = await asyncpg.connect(self.database_url("audit-ingest"), timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return None
        try:
            port = await conn.fetchval(
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid::text::bigint = ((hashtext($1)::bigint >> 32) & 4294967295) "
                "AND l.objid::text::bigint = (hashtext($1)::bigint & 4294967295)",
                "audit-ingest",
            )
        finally:
            await conn.close()
        if port is None:
            return None
        candidates = [p for p in (self.relay,) if p is not None and p.poll() is None]
        pids = [p.pid for p in candidates] + [p.pid for p in self.service_processes()]
        for pid in pids:
            try:
                connections = psutil.Process(pid).net_connections()
                if any(c.laddr and c.laddr.port == port for c in connections):
                    return pid
            except psutil.Error:
                continue
        return -1  # held by a process that is not ours

    # --- health ------------------------------------------------------------------------

    async def ready(self, client: httpx.AsyncClient, service: str) -> bool:
        """/ready when the service has it (db, NATS, relay and consumers alive), else /health."""
        try:
            response = await client.get(f"{self.url(service)}/ready", timeout=3)
            if response.status_code == 404:
                response = await client.get(f"{self.url(service)}/health", timeout=3)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def wait_ready(self, services: list[str], timeout: float = READY_TIMEOUT) -> float | None:
        """Seconds until every one of `services` is ready, or None after `timeout`."""
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            while time.monotonic() - started < timeout:
                if self.up is not None and self.up.poll() is not None:
                    return None
                answers = await asyncio.gather(*(self.ready(client, s) for s in services))
                if all(answers):
                    return time.monotonic() - started
                await asyncio.sleep(0.2)
        return None

    async def ensure_healthy(self) -> str | None:
        """Make the stack whole for the next case: if `baro up` died or a service stays
        unready, restart `baro up` (the case that broke it has failed already). Returns
        what had to be done, or None."""
        if await self.wait_ready(list(SERVICE_PORTS)) is not None:
            return None
        why = "baro up had exited" if self.up and self.up.poll() is not None else "unready"
        await asyncio.to_thread(self.stop_up)
        await asyncio.to_thread(self.start_up)
        assert await self.wait_ready(list(SERVICE_PORTS)) is not None, self.report()
        return f"the harness restarted baro up ({why})"


def free_service_offset() -> int:
    """A BARO_PORT_OFFSET that puts every service on a free port below the ephemeral range
    (as tests/e2e/test_local_stack.py picks it)."""
    while True:
        offset = random.randrange(12_000, 23_000) - SERVICE_PORTS["registration"]
        if all(port_is_free(port + offset) for port in SERVICE_PORTS.values()):
            return offset


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def safe_cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def kill_if_running(process: psutil.Process) -> None:
    try:
        if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
            process.kill()
    except psutil.Error:
        pass
