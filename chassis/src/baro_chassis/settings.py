"""Configuration read from the environment, with dev-only defaults for the local stack."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

# DEV ONLY: signs tokens for the local stack and the tests. Production sets BARO_JWT_SECRET;
# with BARO_ENV=production the services refuse to start on this value.
DEV_ONLY_JWT_SECRET = "dev-only-insecure-barometer-signing-secret-change-me"

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""A request body's limit unless its route has a larger one (BARO_MAX_BODY_BYTES). The
largest bodies the services take are audit-ingest's (services/audit-ingest/tests/unit/
test_body_sizes.py): a referential of 2,000 items, its maximum, is ~540 kB pretty-printed;
a batch of 500 phone probes of the default referential ~640 kB, and the batch route has a
larger limit of its own, for referentials with more items per channel."""


SERVICE_PORTS = {
    "registration": 8001,
    "audit-ingest": 8002,
    "scoring": 8003,
    "billing": 8004,
    "reporting": 8005,
}


def database_url_for(server_url: str, database: str) -> str:
    """The URL of `database` on the server that `server_url` points at."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def service_database_name(service: str) -> str:
    return service.replace("-", "_")


@dataclass(frozen=True)
class Settings:
    service: str
    nats_url: str
    database_url: str
    jwt_secret: str
    environment: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, service: str) -> Settings:
        server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/postgres")
        own = os.environ.get(f"{service.upper().replace('-', '_')}_DATABASE_URL")
        settings = cls(
            service=service,
            nats_url=os.environ.get("NATS_URL", "nats://127.0.0.1:14222"),
            database_url=own or database_url_for(server, service_database_name(service)),
            jwt_secret=os.environ.get("BARO_JWT_SECRET", DEV_ONLY_JWT_SECRET),
            environment=os.environ.get("BARO_ENV", "development"),
            max_body_bytes=int(os.environ.get("BARO_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.environment == "production" and self.jwt_secret == DEV_ONLY_JWT_SECRET:
            raise RuntimeError(
                "BARO_ENV=production but BARO_JWT_SECRET is unset or the dev-only secret: "
                "set BARO_JWT_SECRET to a secret of at least 32 random bytes"
            )
