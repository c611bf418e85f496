from __future__ import annotations

import pytest

from baro_chassis.postgres import eventsourcing_env
from baro_chassis.settings import Settings, database_url_for


def test_each_service_gets_its_own_database_on_the_given_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://baro:s3cret@db.internal:5432/postgres")
    monkeypatch.delenv("AUDIT_INGEST_DATABASE_URL", raising=False)
    assert Settings.from_env("audit-ingest").database_url == (
        "postgresql://baro:s3cret@db.internal:5432/audit_ingest"
    )
    monkeypatch.setenv("AUDIT_INGEST_DATABASE_URL", "postgresql://other/ai")
    assert Settings.from_env("audit-ingest").database_url == "postgresql://other/ai"


def test_eventsourcing_env_is_read_from_the_url() -> None:
    env = eventsourcing_env("postgresql://baro:p%40ss@127.0.0.1:15432/registration")
    assert env["POSTGRES_DBNAME"] == "registration"
    assert env["POSTGRES_PORT"] == "15432"
    assert env["POSTGRES_USER"] == "baro"
    assert env["POSTGRES_PASSWORD"] == "p@ss"
    assert database_url_for("postgresql://u@h:1/a?sslmode=require", "b") == (
        "postgresql://u@h:1/b?sslmode=require"
    )
