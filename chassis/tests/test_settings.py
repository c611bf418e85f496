from __future__ import annotations

import pytest

from baro_chassis.postgres import eventsourcing_env, pool_max
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


def test_pools_are_sized_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARO_PG_POOL_MAX", "8")
    env = eventsourcing_env("postgresql://baro@127.0.0.1:15432/registration")
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == ("4", "4")
    monkeypatch.setenv("BARO_PG_POOL_MAX", "7")
    env = eventsourcing_env("postgresql://baro@127.0.0.1:15432/registration")
    assert int(env["POSTGRES_POOL_SIZE"]) + int(env["POSTGRES_MAX_OVERFLOW"]) == 7
    monkeypatch.delenv("BARO_PG_POOL_MAX")
    assert pool_max("BARO_PG_POOL_MAX") == 20
    assert pool_max("BARO_PG_READ_POOL_MAX") == 5


@pytest.mark.parametrize("value", ["0", "1", "-3", "ten", ""])
def test_a_pool_size_that_is_not_a_count_of_connections_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BARO_PG_READ_POOL_MAX", value)
    with pytest.raises(RuntimeError, match=r"BARO_PG_READ_POOL_MAX=.*at least 2"):
        pool_max("BARO_PG_READ_POOL_MAX")
