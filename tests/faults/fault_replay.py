"""Scoring's live results against a clean replay of the streams (`baro replay scoring`): a
fault must leave the read model as if the events had been applied once each, in order."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from dataclasses import dataclass

import asyncpg
from fault_stack import SCRIPTS, FaultStack


@dataclass(frozen=True)
class ReplayRun:
    returncode: int
    output: str

    @property
    def schema(self) -> str | None:
        found = re.search(r"^Rebuilt into schema: (replay_\w+)", self.output, re.MULTILINE)
        return found.group(1) if found else None


async def replay(stack: FaultStack, year: int, *, drop_schema: bool) -> ReplayRun:
    command = [str(SCRIPTS / "baro"), "replay", "scoring", "--edition", str(year), "--quiet"]
    if drop_schema:
        command.append("--drop-schema")
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return ReplayRun(done.returncode, done.stdout + done.stderr)


async def differences_from_replay(stack: FaultStack, year: int) -> list[str]:
    """What differs between the live per-structure results of the edition and those a
    replay rebuilds from the streams (empty: the same)."""
    run = await replay(stack, year, drop_schema=False)
    if run.returncode != 0 or run.schema is None:
        return [f"the replay failed ({run.returncode}):\n{run.output[-2000:]}"]
    conn = await asyncpg.connect(stack.database_url("scoring"), timeout=10)
    try:
        live = await _lines(conn, "live", year)
        rebuilt = await _lines(conn, run.schema, year)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{run.schema}" CASCADE')
    finally:
        await conn.close()
    said = []
    if live.keys() != rebuilt.keys():
        said.append(
            f"structures only live: {sorted(live.keys() - rebuilt.keys())[:3]}, "
            f"only in the replay: {sorted(rebuilt.keys() - live.keys())[:3]}"
        )
    changed = sorted(k for k in live.keys() & rebuilt.keys() if live[k] != rebuilt[k])
    if changed:
        said.append(f"{len(changed)} structures' results differ from the replay's: {changed[:3]}")
    return said


async def _lines(conn: asyncpg.Connection, schema: str, year: int) -> dict[str, object]:
    rows = await conn.fetch(
        f'SELECT registration_id, line FROM "{schema}".structure_results WHERE edition = $1',
        year,
    )
    return {str(r["registration_id"]): json.loads(r["line"]) for r in rows}
