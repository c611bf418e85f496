"""PostgreSQL wiring: databases, asyncpg pools, and the eventsourcing persistence settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import psycopg
from psycopg import sql

from baro_chassis.settings import database_url_for


def ensure_database(database_url: str) -> None:
    """Create the database `database_url` names if it does not exist yet."""
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url_for(database_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url_for(database_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def eventsourcing_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment an `eventsourcing` Application needs to persist in `database_url`."""
    parts = urlsplit(database_url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "CREATE_TABLE": "y",
    }
    env.update(extra)
    return env


async def create_pool(database_url: str, **kwargs: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5, **kwargs)
    assert pool is not None
    return pool
