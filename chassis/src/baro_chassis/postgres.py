"""PostgreSQL wiring: databases, asyncpg pools, and the eventsourcing persistence settings."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg
import psycopg
from asyncpg.pool import PoolConnectionProxy
from psycopg import errors, sql

from baro_chassis.settings import database_url_for

A = TypeVar("A")

# The advisory lock under which tables are created, in every database of the project: two
# sessions running the same `CREATE TABLE IF NOT EXISTS` at the same moment make one of them
# fail (duplicate key in pg_type) instead of wait, and a service's processes start together
# (the audit-ingest API and its probe writer, API workers, a separate relay).
SCHEMA_LOCK = 7_236_051_187_212_447_095


def ensure_database(database_url: str) -> None:
    """Create the database `database_url` names if it does not exist yet."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url_for(database_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            # Another process may create it meanwhile.
            with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def open_application(application_class: Callable[..., A], database_url: str, **options: Any) -> A:
    """An eventsourcing application persisting in `database_url`, with its database and
    tables created if needed, safely when other processes open it at the same moment."""
    ensure_database(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        # Closing the connection releases the lock.
        return application_class(env=eventsourcing_env(database_url), **options)


async def create_tables(
    conn: asyncpg.Connection[Any] | PoolConnectionProxy[Any], *statements: str
) -> None:
    """Run these `CREATE ... IF NOT EXISTS` statements under the schema lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        for statement in statements:
            await conn.execute(statement)


def drop_database(database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url_for(database_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


POOL_VARIABLES = {"BARO_PG_POOL_MAX": 20, "BARO_PG_READ_POOL_MAX": 5}
"""The most connections a process's event store pool opens (half kept open, half opened
under load and closed after), and the most its read-model pool opens (scoring, reporting).
A replica also holds one for its relay and takes one at a time for `/ready`: size them so
that replicas x processes x these stays within the server's `max_connections` (or the
pooler's)."""


def pool_max(variable: str) -> int:
    """`variable`'s value (one of POOL_VARIABLES), checked: a whole number >= 2."""
    value = os.environ.get(variable, str(POOL_VARIABLES[variable]))
    if not value.isdigit() or int(value) < 2:
        raise RuntimeError(
            f"{variable}={value!r}: set it to a whole number of connections, at least 2 "
            f"(default {POOL_VARIABLES[variable]})"
        )
    return int(value)


def eventsourcing_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment an `eventsourcing` Application needs to persist in `database_url`."""
    parts = urlsplit(database_url)
    most = pool_max("BARO_PG_POOL_MAX")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        # Not eventsourcing's insert function: it does not lock the events table, so two
        # saves can commit out of notification id order, and a reader of the log (the relay)
        # that passed the later id would never see the earlier one. Its plain insert locks it.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "POSTGRES_POOL_SIZE": str(most // 2),
        "POSTGRES_MAX_OVERFLOW": str(most - most // 2),
        "POSTGRES_LOCK_TIMEOUT": "5",
        # A pooled connection is checked as it is taken: after PostgreSQL restarts, the
        # broken ones are replaced instead of failing the request that takes them.
        "POSTGRES_PRE_PING": "y",
        # How long a request waits for a pooled connection, per attempt: eventsourcing's
        # recorder makes 10, so a request meeting a database outage is answered (503) in
        # about 12 s, and one that waits behind a busy pool still waits up to ~10 s in all.
        "POSTGRES_CONNECT_TIMEOUT": "1",
        "CREATE_TABLE": "y",
    }
    env.update(extra)
    return env


async def create_pool(database_url: str, **kwargs: Any) -> asyncpg.Pool:
    """A read-model pool of at most BARO_PG_READ_POOL_MAX connections."""
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=pool_max("BARO_PG_READ_POOL_MAX"), **kwargs
    )
    assert pool is not None
    return pool
