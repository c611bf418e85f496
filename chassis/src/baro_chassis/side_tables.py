"""Tables kept beside an event store, filled from its events when they are first created."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def create_once(datastore: Any, table: str, create: Callable[[Any], None]) -> None:
    """Run `create(cur)` (the table's DDL, then its first rows from the events already stored)
    unless `table` exists, in one transaction: a process stopped half-way leaves no table,
    never an empty one that would not be filled again. Serialised by an advisory lock so
    that replicas starting together create it once."""
    with datastore.transaction(commit=True) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
        cur.execute("SELECT to_regclass(%s) AS found", (table,))
        row = cur.fetchone()
        if row is None or row["found"] is None:
            create(cur)
