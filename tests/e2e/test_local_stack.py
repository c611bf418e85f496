"""`baro up` (what `make up` runs): starts everything, answers, keeps data, stops cleanly."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sysconfig
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from baro_chassis.embedded import free_port
from baro_chassis.settings import SERVICE_PORTS

pytestmark = pytest.mark.e2e

EDITION = {
    "year": 2031,
    "registration_deadline": "2099-03-15",
    "audit_window_start": "2099-04-01",
    "audit_window_end": "2099-05-31",
    "free_places": 10,
}
REGISTRATION = {
    "siret": "35600000000010",
    "name": "La Poste — agence de Lyon",
    "kind": "other_public",
    "department": "69",
    "contacts": {"decision_maker": {"name": "B", "email": "b@example.fr", "phone": "0102030405"}},
    "sites": [{"name": "Agence", "address": "10 place Bellecour, 69002 Lyon"}],
    "participation": "paid",
}


class Stack:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        baro = Path(sysconfig.get_path("scripts")) / "baro"
        self.data_dir = data_dir
        self.output = data_dir.parent / f"{data_dir.name}-{time.monotonic_ns()}.out"
        self.process = subprocess.Popen(
            [str(baro), "up", "--data-dir", str(data_dir)],
            env=env,
            stdout=self.output.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.output.read_text()

    def report(self) -> str:
        """What `baro up` printed, and the end of each service's log (why one failed)."""
        logs = sorted((self.data_dir / "logs").glob("*.log"))
        tails = [
            f"--- {log.name}:\n" + "\n".join(log.read_text().splitlines()[-30:]) for log in logs
        ]
        return "\n".join([self.text(), *tails])

    def wait_ready(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while "Ctrl-C stops everything." not in self.text():
            assert self.process.poll() is None, f"baro up exited:\n{self.report()}"
            assert time.monotonic() < deadline, f"baro up not ready:\n{self.report()}"
            time.sleep(0.1)
        token_line = self.text().split("Dev admin token")[1].splitlines()[1]
        return token_line.strip()

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(60) == 0, self.report()

    def ensure_stopped(self) -> None:
        """Whatever happened in the test, leave no server behind: Ctrl-C first, as a user
        would, so `baro up` stops its children; kill only if it does not exit."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            for child in self.children():
                child.kill()
            self.process.kill()


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_service_offset() -> int:
    """A BARO_PORT_OFFSET that puts every service on a free port, not only the first, below
    the ephemeral range (where a health check's own connection could take the port)."""
    while True:
        offset = random.randrange(12_000, 23_000) - SERVICE_PORTS["registration"]
        if all(port_is_free(port + offset) for port in SERVICE_PORTS.values()):
            return offset


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
    env.update(
        BARO_NATS_PORT=str(free_port()),
        BARO_POSTGRES_PORT=str(free_port()),
        BARO_PORT_OFFSET=str(free_service_offset()),
        BARO_DEMO="0",
    )
    return env


def base_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{8001 + int(env['BARO_PORT_OFFSET'])}"


def audit_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{8002 + int(env['BARO_PORT_OFFSET'])}"


def scoring_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{8003 + int(env['BARO_PORT_OFFSET'])}"


def billing_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{8004 + int(env['BARO_PORT_OFFSET'])}"


def quotes_when_drafted(env: dict[str, str], year: int, headers: dict[str, str], count: int) -> Any:
    """The edition's quotes once billing has drafted `count` of them from registration's
    events."""
    deadline = time.monotonic() + 60
    while True:
        response = httpx.get(f"{billing_url(env)}/editions/{year}/quotes", headers=headers)
        quotes = response.json().get("quotes", []) if response.status_code == 200 else []
        if len(quotes) >= count or time.monotonic() > deadline:
            return quotes
        time.sleep(0.5)


def publish_when_caught_up(env: dict[str, str], year: int, headers: dict[str, str]) -> Any:
    """Publish the edition's results: scoring refuses (409) until it has applied every
    registration and audit event, so a user simply tries again."""
    deadline = time.monotonic() + 120
    while True:
        response = httpx.post(f"{scoring_url(env)}/editions/{year}/publish", headers=headers)
        if response.status_code == 201 or time.monotonic() > deadline:
            assert response.status_code == 201, response.text
            return response.json()
        assert response.status_code in (404, 409), response.text
        time.sleep(0.5)


def replay_command(env: dict[str, str], year: int) -> subprocess.CompletedProcess[str]:
    """`uv run baro replay scoring --edition YEAR` against the stack's servers."""
    baro = Path(sysconfig.get_path("scripts")) / "baro"
    servers = {
        "NATS_URL": f"nats://127.0.0.1:{env['BARO_NATS_PORT']}",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{env['BARO_POSTGRES_PORT']}/postgres",
    }
    return subprocess.run(
        [str(baro), "replay", "scoring", "--edition", str(year), "--drop-schema"],
        env={**env, **servers},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_make_up_loads_a_demo_edition_into_an_empty_database_once(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    env = {**stack_env, "BARO_DEMO": "1", "BARO_DEMO_STRUCTURES": "12"}
    year = datetime.now(UTC).year + 1
    data_dir = tmp_path / "data"
    stack = Stack(data_dir, env)
    try:
        token = stack.wait_ready(timeout=300)
        assert f"demo: edition {year} loaded" in stack.text(), stack.text()
        headers = {"Authorization": f"Bearer {token}"}
        edition = httpx.get(f"{audit_url(env)}/editions/{year}", headers=headers)
        assert edition.status_code == 200, edition.text
        assert edition.json()["structures"] == 12
        assert edition.json()["referential_frozen_at"] is not None  # probes were recorded
        registrations = httpx.get(
            f"{base_url(env)}/editions/{year}/registrations", headers=headers
        ).json()
        plan = httpx.get(
            f"{audit_url(env)}/editions/{year}/plans/{registrations[0]['registration_id']}",
            headers=headers,
        ).json()
        assert plan["probes_recorded"] == plan["probes_planned"] >= 13

        # Scoring followed the campaign: publish its results, then replay them.
        published = publish_when_caught_up(env, year, headers)
        assert published["structures"] == 12
        assert published["laureates"], published
        kpis = httpx.get(f"{scoring_url(env)}/editions/{year}/kpis").json()  # public now
        assert kpis["national"]["structures"] == 12
        replayed = replay_command(env, year)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert f"Fingerprint: {published['fingerprint']}" in replayed.stdout
        assert "MATCH" in replayed.stdout
        assert "Live read model: untouched" in replayed.stdout

        # Billing drafted a quote from every registration: issue one, print its order form.
        quotes = quotes_when_drafted(env, year, headers, 12)
        assert len(quotes) == 12, quotes
        quote = next(q for q in quotes if q["can_issue"])
        issued = httpx.post(f"{billing_url(env)}/quotes/{quote['quote_id']}/issue", headers=headers)
        assert issued.status_code == 200, issued.text
        number = issued.json()["number"]
        assert number == f"BC-{year}-000001"
        pdf = httpx.get(f"{billing_url(env)}/order-forms/{number}/pdf", headers=headers)
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        stack.interrupt()
    finally:
        stack.ensure_stopped()
    again = Stack(data_dir, env)
    try:
        again.wait_ready(timeout=300)
        assert f"demo: edition {year} already exists" in again.text()
        again.interrupt()
    finally:
        again.ensure_stopped()


def test_make_up_runs_the_backend_keeps_its_data_and_stops_cleanly(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    stack = Stack(data_dir, stack_env)
    try:
        token = stack.wait_ready()
        assert f"registration   {base_url(stack_env)}/docs" in stack.text()
        assert f"audit-ingest   {audit_url(stack_env)}/docs" in stack.text()
        assert f"scoring        {scoring_url(stack_env)}/docs" in stack.text()
        assert f"billing        {billing_url(stack_env)}/docs" in stack.text()
        children = stack.children()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base_url(stack_env), headers=headers) as client:
            assert client.get("/docs").status_code == 200
            assert client.post("/editions", json=EDITION).status_code == 201
            created = client.post("/editions/2031/registrations", json=REGISTRATION)
            assert created.status_code == 201, created.text
        stack.interrupt()
    finally:
        stack.ensure_stopped()
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]

    restarted = Stack(data_dir, stack_env)
    try:
        token = restarted.wait_ready()
        with httpx.Client(
            base_url=base_url(stack_env), headers={"Authorization": f"Bearer {token}"}
        ) as client:
            registration_id = created.json()["registration_id"]
            again = client.get(f"/editions/2031/registrations/{registration_id}")
            assert again.status_code == 200
            assert again.json()["name"] == REGISTRATION["name"]
        restarted.interrupt()
    finally:
        restarted.ensure_stopped()


def test_make_up_uses_external_servers_when_their_urls_are_set(
    tmp_path: Path, stack_env: dict[str, str], nats_url: str, postgres_server: str
) -> None:
    env = {**stack_env, "NATS_URL": nats_url, "DATABASE_URL": postgres_server}
    stack = Stack(tmp_path / "data", env)
    try:
        token = stack.wait_ready()
        assert f"NATS JetStream   {nats_url}  (external)" in stack.text()
        names = {c.name() for c in stack.children()}
        assert not names & {"nats-server", "postgres"}, names
        with httpx.Client(
            base_url=base_url(stack_env), headers={"Authorization": f"Bearer {token}"}
        ) as client:
            assert client.post("/editions", json=EDITION).status_code == 201
        stack.interrupt()
    finally:
        stack.ensure_stopped()


def test_make_up_recovers_after_being_killed_hard(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    crashed = Stack(data_dir, stack_env)
    orphans: list[psutil.Process] = []
    try:
        crashed.wait_ready()
        orphans = crashed.children()
        crashed.process.kill()  # no chance to stop its servers and services
        crashed.process.wait(10)
        assert any(o.is_running() for o in orphans)

        again = Stack(data_dir, stack_env)
        try:
            token = again.wait_ready()
            with httpx.Client(
                base_url=base_url(stack_env), headers={"Authorization": f"Bearer {token}"}
            ) as client:
                assert client.post("/editions", json=EDITION).status_code == 201
            again.interrupt()
        finally:
            again.ensure_stopped()
        assert not [o for o in orphans if o.is_running() and o.status() != psutil.STATUS_ZOMBIE]
    finally:
        crashed.ensure_stopped()
        for orphan in orphans:
            if orphan.is_running():
                orphan.kill()


def service_processes(stack: Stack) -> dict[str, psutil.Process]:
    """The stack's service processes (`baro-<name> serve`), by name."""
    found = {}
    for child in stack.children():
        with contextlib.suppress(psutil.Error):
            command = child.cmdline()
            script = Path(command[1] if len(command) > 1 else command[0]).name
            if script.startswith("baro-") and "serve" in command:
                found[script.removeprefix("baro-")] = child
    return found


def ready_status(url: str) -> int:
    try:
        return httpx.get(f"{url}/ready", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def test_make_up_restarts_a_killed_service_and_its_services_end_when_it_is_killed(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    stack = Stack(data_dir, stack_env)
    servers: list[psutil.Process] = []
    try:
        token = stack.wait_ready()
        started = time.monotonic()
        services = service_processes(stack)
        assert {"registration", "audit-ingest"} <= services.keys(), services
        servers = [c for c in stack.children() if c.name() in ("nats-server", "postgres")]

        services["registration"].send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (
            "restarting registration" not in stack.text()
            or ready_status(base_url(stack_env)) != 200
        ):
            assert time.monotonic() < deadline, stack.report()
            time.sleep(0.2)
        assert "restarting registration" in (data_dir / "logs" / "stack.log").read_text()
        print(f"registration killed -> ready again in {time.monotonic() - started:.1f}s")
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base_url(stack_env)}/editions", json=EDITION, headers=headers)
        assert created.status_code == 201, created.text

        everything = [p for p in stack.children() if p not in servers]
        stack.process.kill()  # no chance to stop anything: the kernel tells its services
        stack.process.wait(10)
        deadline = time.monotonic() + 30
        while alive := [p for p in everything if p.is_running() and p.status() != "zombie"]:
            assert time.monotonic() < deadline, [p.cmdline() for p in alive]
            time.sleep(0.2)
        port = int(stack_env["BARO_PORT_OFFSET"]) + SERVICE_PORTS["registration"]
        with pytest.raises(ConnectionRefusedError):  # nobody holds its port
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        stack.ensure_stopped()
        for server in servers:  # the servers outlive it; the next `baro up` would stop them
            with contextlib.suppress(psutil.Error):
                server.send_signal(signal.SIGINT)
                server.wait(30)
