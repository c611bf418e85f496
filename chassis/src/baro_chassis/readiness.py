"""`/ready`: whether a service can do its work now, part by part (its database, NATS, its
relay, its consumers). `/health` only says the process answers.

A service's wiring adds its checks to the app as it starts them (`add_check`); each check
answers quickly and never raises."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

import asyncpg
from fastapi import FastAPI
from faststream.nats import NatsBroker
from nats.aio.client import Client
from pydantic import BaseModel, Field

from baro_chassis.relay import Relay, RelayState
from baro_chassis.resilience import CONNECTION_ERRORS
from baro_chassis.serving import DRAINING

CHECK_TIMEOUT_SECONDS = 2.0


class PartReadiness(BaseModel):
    ready: bool
    detail: str = Field(description="what the part is doing, or why it is not ready")


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    service: str
    not_ready: list[str] = Field(description="the parts that are not ready, if any")
    parts: dict[str, PartReadiness]


Check = Callable[[], Awaitable[PartReadiness]]


def add_check(app: FastAPI, part: str, check: Check) -> None:
    app.state.readiness_checks[part] = check


async def readiness(app: FastAPI) -> Readiness:
    checks: dict[str, Check] = app.state.readiness_checks
    answers = await asyncio.gather(*(_bounded(check) for check in checks.values()))
    parts = dict(zip(checks, answers, strict=True))
    if DRAINING.is_set():
        parts["process"] = PartReadiness(ready=False, detail="draining: SIGTERM received")
    not_ready = [part for part, answer in parts.items() if not answer.ready]
    return Readiness(
        status="not_ready" if not_ready else "ready",
        service=app.state.settings.service,
        not_ready=not_ready,
        parts=parts,
    )


async def _bounded(check: Check) -> PartReadiness:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return PartReadiness(ready=False, detail=f"no answer within {CHECK_TIMEOUT_SECONDS} s")
    except Exception as exc:
        return PartReadiness(ready=False, detail=f"{type(exc).__name__}: {exc}")


def database_check(database_url: str) -> Check:
    """The database answers a query (on a connection of its own: a pool's may all be busy)."""

    async def check() -> PartReadiness:
        try:
            conn = await asyncpg.connect(database_url, timeout=CHECK_TIMEOUT_SECONDS)
        except CONNECTION_ERRORS as exc:
            return PartReadiness(ready=False, detail=f"cannot connect: {exc}")
        try:
            await conn.fetchval("SELECT 1")
        finally:
            conn.terminate()
        return PartReadiness(ready=True, detail="answers")

    return check


def nats_check(client: Client) -> Check:
    async def check() -> PartReadiness:
        if client.is_connected:
            return PartReadiness(ready=True, detail="connected")
        state = "reconnecting" if client.is_reconnecting else "disconnected"
        return PartReadiness(ready=False, detail=state)

    return check


def relay_check(relay: Relay, task: asyncio.Task[Any]) -> Check:
    """The relay task runs and is the active relay or a standby, connected."""

    async def check() -> PartReadiness:
        if task.done():
            return PartReadiness(ready=False, detail="the relay has ended")
        ready = relay.state in (RelayState.LEADER, RelayState.STANDBY)
        return PartReadiness(ready=ready, detail=str(relay.state))

    return check


def brokers_check(brokers: Callable[[], Iterable[NatsBroker]]) -> Check:
    """Every faststream consumer is connected and its subscribers are running."""

    async def check() -> PartReadiness:
        all_brokers = list(brokers())
        stopped = sum(
            not all(subscriber.running for subscriber in broker.subscribers)
            or not broker.config.broker_config.connection_state.connection.is_connected
            for broker in all_brokers
        )
        if stopped:
            detail = f"{stopped} of {len(all_brokers)} consumers not connected or not running"
            return PartReadiness(ready=False, detail=detail)
        return PartReadiness(ready=True, detail=f"{len(all_brokers)} consuming")

    return check


def tasks_check(client: Client, tasks: Callable[[], Iterable[asyncio.Task[Any]]]) -> Check:
    """Consumer loops of our own: running, on a connected client."""

    async def check() -> PartReadiness:
        ended = [task.get_name() for task in tasks() if task.done()]
        if ended:
            return PartReadiness(ready=False, detail=f"ended: {', '.join(ended)}")
        if not client.is_connected:
            return PartReadiness(ready=False, detail="NATS disconnected")
        return PartReadiness(ready=True, detail="consuming")

    return check
