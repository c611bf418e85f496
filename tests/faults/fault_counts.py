"""Where each acknowledged write is, stage by stage, counted per key (so a duplicate shows):

- stored:   in the producer's event store (audit-ingest's probes; registration's API list);
- streamed: in its JetStream stream (read as a replay reads it);
- scored:   in scoring's read model (its facts, keyed by event id);
- billed:   registrations only: in billing's quotes (each registration's first quote).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import nats
import nats.errors
from fault_stack import FaultStack, admin_headers

from baro_audit_ingest.domain import Probe
from baro_scoring.edition_stream import read_stored

STAGES = ("stored", "streamed", "scored")
REGISTRATION_STAGES = (*STAGES, "billed")


@dataclass
class StageCounts:
    """How many times each key is found at each stage (None: the stage could not be read)."""

    stored: Counter[str] | None = None
    streamed: Counter[str] | None = None
    scored: Counter[str] | None = None
    billed: Counter[str] | None = None
    stages: tuple[str, ...] = STAGES

    def stage(self, name: str) -> Counter[str] | None:
        found: Counter[str] | None = getattr(self, name)
        return found

    def holds(self, keys: set[str]) -> bool:
        return all(
            (found := self.stage(s)) is not None and keys <= found.keys() for s in self.stages
        )


@dataclass
class Verdict:
    """One kind of write's counts against what the clients were acknowledged."""

    acknowledged: set[str]
    counts: StageCounts
    lost: dict[str, set[str]] = field(default_factory=dict)
    duplicated: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, acknowledged: set[str], counts: StageCounts, sent: set[str]) -> Verdict:
        """`sent`: every key the case wrote (the stages hold earlier cases' too)."""
        verdict = cls(acknowledged, counts)
        for stage in counts.stages:
            found = counts.stage(stage) or Counter()
            verdict.lost[stage] = acknowledged - found.keys()
            verdict.duplicated[stage] = {k: n for k, n in found.items() if n > 1 and k in sent}
        return verdict

    def found(self, stage: str) -> int:
        """Acknowledged keys found at the stage (each once, however often it is there)."""
        found = self.counts.stage(stage) or Counter()
        return len(self.acknowledged & found.keys())

    def problems(self, what: str) -> list[str]:
        said = []
        for stage in self.counts.stages:
            if self.counts.stage(stage) is None:
                said.append(f"the {stage} {what} could not be read (its server did not answer)")
            elif self.lost[stage]:
                sample = sorted(self.lost[stage])[:3]
                said.append(
                    f"{len(self.lost[stage])} acknowledged {what} not {stage} (e.g. {sample})"
                )
            if self.duplicated[stage]:
                sample = sorted(self.duplicated[stage].items())[:3]
                said.append(f"{len(self.duplicated[stage])} {what} {stage} twice or more {sample}")
        return said


class StageReader:
    """Reads the stages of one probe edition and one registration edition."""

    def __init__(self, stack: FaultStack, probe_year: int, registration_year: int) -> None:
        self.stack = stack
        self.probe_year = probe_year
        self.registration_year = registration_year

    async def probes(self, keys: set[str]) -> StageCounts:
        stored, streamed, scored = await asyncio.gather(
            self._stored_probes(keys),
            self._streamed("AUDIT", f"audit.v1.{self.probe_year}.probe_recorded", "probe_id"),
            self.scored_probes(),
        )
        return StageCounts(stored, streamed, scored)

    async def registrations(self) -> StageCounts:
        (stored, ids), streamed, scored = await asyncio.gather(
            self._stored_registrations(),
            self._streamed(
                "REGISTRATION",
                f"registration.v1.{self.registration_year}.structure_registered",
                "siret",
            ),
            self.scored_registrations(),
        )
        billed = await self._billed_registrations(ids) if ids is not None else None
        return StageCounts(stored, streamed, scored, billed, REGISTRATION_STAGES)

    async def scored_probes(self) -> Counter[str] | None:
        return await self._scored(self.probe_year, "audit.v1.probe_recorded", "probe_id")

    async def scored_registrations(self) -> Counter[str] | None:
        return await self._scored(
            self.registration_year, "registration.v1.structure_registered", "siret"
        )

    async def _stored_probes(self, keys: set[str]) -> Counter[str] | None:
        """Probe aggregates in audit-ingest's event store, by probe_id (an aggregate's id is
        derived from its probe_id, so the store cannot hold one probe twice: this says
        whether it holds it)."""
        by_aggregate = {Probe.create_id(UUID(k)): k for k in keys}
        rows = await self._fetch(
            "audit-ingest",
            "SELECT originator_id FROM audit_ingest_events "
            "WHERE originator_id = ANY($1::uuid[]) AND originator_version = 1",
            list(by_aggregate),
        )
        if rows is None:
            return None
        return Counter(by_aggregate[r["originator_id"]] for r in rows)

    async def _stored_registrations(self) -> tuple[Counter[str] | None, dict[str, str] | None]:
        """By SIRET, and each registration id's SIRET."""
        answer = await self._get(
            "registration", f"/editions/{self.registration_year}/registrations"
        )
        if answer is None:
            return None, None
        return Counter(r["siret"] for r in answer), {
            r["registration_id"]: r["siret"] for r in answer
        }

    async def _billed_registrations(self, sirets: dict[str, str]) -> Counter[str] | None:
        """First quotes (revision 1) in billing, by their registration's SIRET: a registration
        billed twice would have two."""
        answer = await self._get("billing", f"/editions/{self.registration_year}/quotes")
        if answer is None:
            return None
        return Counter(
            sirets.get(q["registration_id"], q["registration_id"])
            for q in answer["quotes"]
            if q["revision"] == 1
        )

    async def _get(self, service: str, path: str) -> Any | None:
        """The service's JSON answer, or None while it cannot answer."""
        try:
            async with httpx.AsyncClient(headers=admin_headers(), timeout=15) as client:
                response = await client.get(f"{self.stack.url(service)}{path}")
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    async def _streamed(self, stream: str, subject: str, key: str) -> Counter[str] | None:
        async def read() -> Counter[str]:
            found: Counter[str] = Counter()
            nc = await nats.connect(
                servers=self.stack.nats.servers,
                name="fault-suite-reader",
                allow_reconnect=False,
                connect_timeout=5,
            )
            try:
                await read_stored(
                    nc.jetstream(),
                    stream,
                    subject,
                    lambda m: found.update([json.loads(m.data)[key]]),
                )
            finally:
                await nc.close()
            return found

        try:
            return await asyncio.wait_for(read(), 40)
        except (OSError, RuntimeError, TimeoutError, nats.errors.Error):
            return None

    async def _scored(self, year: int, event_type: str, key: str) -> Counter[str] | None:
        rows = await self._fetch(
            "scoring",
            "SELECT body->>$3 AS key FROM live.facts WHERE edition = $1 AND event_type = $2",
            year,
            event_type,
            key,
        )
        return None if rows is None else Counter(r["key"] for r in rows)

    async def _fetch(self, service: str, query: str, *args: object) -> list[asyncpg.Record] | None:
        """The rows, or None while the database cannot answer (restarting, say)."""
        try:
            conn = await asyncpg.connect(self.stack.database_url(service), timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return None
        try:
            return list(await conn.fetch(query, *args, timeout=20))
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return None
        finally:
            await conn.close()
