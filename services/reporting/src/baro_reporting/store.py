"""Reporting's read model in PostgreSQL: the facts it learned from the streams (kept as the
events that carry them, with their positions, so that any document can be rebuilt exactly as
of a publication), the checked publications, and the rendered reports."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeAlias
from uuid import UUID

import asyncpg

from baro_chassis.postgres import create_pool, create_tables
from baro_reporting.facts import Publication

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

SCHEMA_DDL = (
    """
    CREATE TABLE IF NOT EXISTS consumed (
        consumer text PRIMARY KEY,
        position bigint NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS registration_events (
        position bigint PRIMARY KEY,
        edition integer NOT NULL,
        body text NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS referentials (
        position bigint PRIMARY KEY,
        edition integer NOT NULL,
        body text NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS publications (
        position bigint PRIMARY KEY,
        edition integer NOT NULL,
        fingerprint text NOT NULL,
        method text NOT NULL,
        included_through jsonb NOT NULL,
        published_at timestamptz NOT NULL,
        published_by text NOT NULL,
        document text NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS publications_edition ON publications (edition, position)",
    """
    CREATE TABLE IF NOT EXISTS reports (
        report_id uuid PRIMARY KEY,
        edition integer NOT NULL,
        kind text NOT NULL,
        registration_id uuid,
        fingerprint text NOT NULL,
        template_version text NOT NULL,
        editorial_version integer NOT NULL,
        sha256 text NOT NULL,
        input_sha256 text NOT NULL,
        pages integer NOT NULL,
        pdf bytea NOT NULL,
        input bytea NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS reports_edition ON reports (edition, kind, registration_id)",
)


async def open_store(database_url: str) -> asyncpg.Pool:
    pool = await create_pool(database_url)
    async with pool.acquire() as conn:
        await create_tables(conn, *SCHEMA_DDL)
    return pool


async def consumed_position(conn: Connection, consumer: str) -> int:
    value = await conn.fetchval("SELECT position FROM consumed WHERE consumer = $1", consumer)
    return int(value or 0)


async def mark_consumed(conn: Connection, consumer: str, position: int) -> None:
    await conn.execute(
        "INSERT INTO consumed (consumer, position) VALUES ($1, $2) ON CONFLICT (consumer) "
        "DO UPDATE SET position = greatest(consumed.position, EXCLUDED.position)",
        consumer,
        position,
    )


async def keep_event(conn: Connection, table: str, position: int, edition: int, body: str) -> None:
    assert table in ("registration_events", "referentials")
    await conn.execute(
        f"INSERT INTO {table} (position, edition, body) VALUES ($1, $2, $3) "  # noqa: S608
        "ON CONFLICT (position) DO NOTHING",
        position,
        edition,
        body,
    )


async def registration_bodies(conn: Connection, through: int) -> list[tuple[int, str]]:
    """Registration's events up to `through`, in log order."""
    rows = await conn.fetch(
        "SELECT position, body FROM registration_events WHERE position <= $1 ORDER BY position",
        through,
    )
    return [(row["position"], row["body"]) for row in rows]


async def referential_bodies(conn: Connection, edition: int) -> list[tuple[int, str]]:
    rows = await conn.fetch(
        "SELECT position, body FROM referentials WHERE edition = $1 ORDER BY position", edition
    )
    return [(row["position"], row["body"]) for row in rows]


async def keep_publication(conn: Connection, position: int, publication: dict[str, Any]) -> bool:
    """Store a checked publication; False when this position was stored already."""
    status = await conn.execute(
        "INSERT INTO publications (position, edition, fingerprint, method, included_through, "
        "published_at, published_by, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (position) DO NOTHING",
        position,
        publication["edition"],
        publication["fingerprint"],
        publication["method"],
        json.dumps(publication["included_through"]),
        publication["published_at"],
        publication["published_by"],
        publication["document"],
    )
    return bool(status.endswith(" 1"))


def _publication(row: asyncpg.Record) -> Publication:
    return Publication(
        edition=row["edition"],
        fingerprint=row["fingerprint"],
        method=row["method"],
        position=row["position"],
        published_at=row["published_at"],
        published_by=row["published_by"],
        included_through=json.loads(row["included_through"]),
        document=json.loads(row["document"]),
    )


PUBLICATION_COLUMNS = (
    "position, edition, fingerprint, method, included_through, published_at, published_by"
)


async def publications(conn: Connection) -> list[Publication]:
    """Every publication received, without its document (`with_document` loads it)."""
    rows = await conn.fetch(
        f"SELECT {PUBLICATION_COLUMNS}, '{{}}' AS document FROM publications "  # noqa: S608
        "ORDER BY position"
    )
    return [_publication(row) for row in rows]


async def with_document(conn: Connection, publication: Publication) -> Publication:
    text = await conn.fetchval(
        "SELECT document FROM publications WHERE position = $1", publication.position
    )
    return replace(publication, document=json.loads(text))


async def edition_known(conn: Connection, edition: int) -> bool:
    """Whether reporting has received any event of the edition: a structure's registration,
    a referential or a publication."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM registration_events WHERE edition = $1)"
            " OR EXISTS (SELECT 1 FROM referentials WHERE edition = $1)"
            " OR EXISTS (SELECT 1 FROM publications WHERE edition = $1)",
            edition,
        )
    )


async def published_editions(conn: Connection) -> list[int]:
    rows = await conn.fetch("SELECT DISTINCT edition FROM publications ORDER BY edition")
    return [row["edition"] for row in rows]


async def store_report(conn: Connection, report: dict[str, Any]) -> bool:
    """Store a rendered report; False when it was stored already (its bytes stay)."""
    status = await conn.execute(
        "INSERT INTO reports (report_id, edition, kind, registration_id, fingerprint, "
        "template_version, editorial_version, sha256, input_sha256, pages, pdf, input) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        "ON CONFLICT (report_id) DO NOTHING",
        report["report_id"],
        report["edition"],
        report["kind"],
        report["registration_id"],
        report["fingerprint"],
        report["template_version"],
        report["editorial_version"],
        report["sha256"],
        report["input_sha256"],
        report["pages"],
        report["pdf"],
        report["input"],
    )
    return bool(status.endswith(" 1"))


REPORT_COLUMNS = (
    "report_id, edition, kind, registration_id, fingerprint, template_version, "
    "editorial_version, sha256, input_sha256, pages, octet_length(pdf) AS size_bytes"
)


async def report_ids(conn: Connection, edition: int) -> set[UUID]:
    rows = await conn.fetch("SELECT report_id FROM reports WHERE edition = $1", edition)
    return {row["report_id"] for row in rows}


async def report_row(conn: Connection, report_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REPORT_COLUMNS} FROM reports WHERE report_id = $1",  # noqa: S608
        report_id,
    )


async def report_file(conn: Connection, report_id: UUID, column: str) -> bytes | None:
    assert column in ("pdf", "input")
    value = await conn.fetchval(
        f"SELECT {column} FROM reports WHERE report_id = $1",  # noqa: S608
        report_id,
    )
    return None if value is None else bytes(value)


async def reports_of(conn: Connection, edition: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {REPORT_COLUMNS} FROM reports WHERE edition = $1 "  # noqa: S608
        "ORDER BY kind, registration_id NULLS FIRST, fingerprint, editorial_version",
        edition,
    )
