"""Clients as capture apps and registration forms behave: each write is sent, and sent again
with the byte-identical body on a 5xx, a 429, a timeout or a broken connection, until it is
acknowledged (200 or 201) or refused (another 4xx); what each got is recorded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

RETRYABLE = {429, 500, 502, 503, 504}
REQUEST_TIMEOUT = 10.0

GiveUp = Callable[[], bool]
"""True once clients should stop retrying: what is not acknowledged then stays so."""


@dataclass(frozen=True)
class Write:
    key: str
    """What identifies it for the counts: the probe_id, or the registration's SIRET."""
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Outcome:
    attempts: int = 0
    status: int | None = None
    """The final answer: 200/201 acknowledged, another 4xx refused, None never answered."""
    answer: str = ""
    failures: list[str] = field(default_factory=list)
    acknowledged_at: float | None = None
    last_failure_at: float | None = None


@dataclass
class Ledger:
    """Every write's outcome, by key, and when the faults broke and restored writing."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failure_times: list[float] = field(default_factory=list)
    success_times: list[float] = field(default_factory=list)
    finished: int = 0
    """Writes answered for good, or given up."""
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    """Set each time a write is finished."""

    def acknowledged(self) -> set[str]:
        return {k for k, o in self.outcomes.items() if o.status in (200, 201)}

    def refused(self) -> dict[str, Outcome]:
        return {k: o for k, o in self.outcomes.items() if o.status not in (None, 200, 201)}

    def unanswered(self) -> set[str]:
        return {k for k, o in self.outcomes.items() if o.status is None}

    def conflicts_on_retry(self) -> dict[str, Outcome]:
        """Retries answered 409: a capture app trusting it would drop a valid write."""
        return {k: o for k, o in self.refused().items() if o.status == 409 and o.attempts > 1}

    def writes_back_after(self, fault_at: float) -> float | None:
        """When writing worked again: the first acknowledgement after the last failure that
        followed the fault (the fault time itself when no write failed)."""
        failures = [t for t in self.failure_times if t >= fault_at]
        if not failures:
            return fault_at
        last = max(failures)
        later = [t for t in self.success_times if t > last]
        return min(later) if later else None


async def send(client: httpx.AsyncClient, write: Write, ledger: Ledger, give_up: GiveUp) -> None:
    try:
        await _send(client, write, ledger, give_up)
    finally:
        ledger.finished += 1
        ledger.answered.set()


async def _send(client: httpx.AsyncClient, write: Write, ledger: Ledger, give_up: GiveUp) -> None:
    outcome = ledger.outcomes.setdefault(write.key, Outcome())
    delay = 0.1
    while not give_up():
        outcome.attempts += 1
        try:
            response = await client.post(
                write.url, content=write.body, headers=write.headers, timeout=REQUEST_TIMEOUT
            )
        except httpx.TransportError as exc:
            why = f"{type(exc).__name__}"
        else:
            if response.status_code not in RETRYABLE:
                outcome.status = response.status_code
                outcome.answer = response.text[:300]
                if response.status_code in (200, 201):
                    outcome.acknowledged_at = time.monotonic()
                    ledger.success_times.append(outcome.acknowledged_at)
                return
            why = f"{response.status_code} {response.text[:120]}"
        outcome.failures.append(why)
        outcome.last_failure_at = time.monotonic()
        ledger.failure_times.append(outcome.last_failure_at)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def send_all(
    client: httpx.AsyncClient,
    writes: list[Write],
    ledger: Ledger,
    concurrency: int,
    give_up: GiveUp,
) -> None:
    queue = list(reversed(writes))

    async def worker() -> None:
        while queue:
            await send(client, queue.pop(), ledger, give_up)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass
class Burst:
    probes: Ledger = field(default_factory=Ledger)
    registrations: Ledger = field(default_factory=Ledger)
    fault_at: float = 0.0
    probes_acknowledged_before_fault: set[str] = field(default_factory=set)
    registrations_acknowledged_before_fault: set[str] = field(default_factory=set)


async def burst_with_fault(
    probe_writes: list[Write],
    registration_writes: list[Write],
    inject: Callable[[], Awaitable[None]],
    on_fault: Callable[[Burst], None],
    give_up: GiveUp,
    *,
    clients: int = 24,
    fault_after: float = 0.3,
) -> Burst:
    """Post the probes with `clients` in flight and the registrations two at a time (half
    of them from the fault on); once `fault_after` of the probes are acknowledged, inject
    the fault while the posting goes on. `on_fault` is told as the fault is injected.
    Writes not acknowledged when `give_up` says so are left unacknowledged."""
    burst = Burst()
    half = len(registration_writes) // 2
    fault_started = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(limits=limits) as client:

        async def injector() -> None:
            threshold = max(1, int(len(probe_writes) * fault_after))
            while len(burst.probes.acknowledged()) < threshold and burst.probes.finished < len(
                probe_writes
            ):
                burst.probes.answered.clear()
                await burst.probes.answered.wait()
            burst.fault_at = time.monotonic()
            burst.probes_acknowledged_before_fault = burst.probes.acknowledged()
            burst.registrations_acknowledged_before_fault = burst.registrations.acknowledged()
            on_fault(burst)
            fault_started.set()
            await inject()

        async def registrations_after_fault() -> None:
            await fault_started.wait()
            await send_all(client, registration_writes[half:], burst.registrations, 2, give_up)

        await asyncio.gather(
            injector(),
            send_all(client, probe_writes, burst.probes, clients, give_up),
            send_all(client, registration_writes[:half], burst.registrations, 2, give_up),
            registrations_after_fault(),
        )
    return burst


def probe_write(
    base_url: str, year: int, probe: dict[str, object], headers: dict[str, str]
) -> Write:
    body = {k: v for k, v in probe.items() if k != "edition"}
    return Write(
        key=str(probe["probe_id"]),
        url=f"{base_url}/editions/{year}/probes",
        body=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
    )


def registration_write(
    base_url: str, year: int, registration: dict[str, object], headers: dict[str, str]
) -> Write:
    return Write(
        key=str(registration["siret"]),
        url=f"{base_url}/editions/{year}/registrations",
        body=json.dumps(registration).encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
