"""NATS JetStream wiring: connections and the streams the contracts declare.

Every connection, nats-py client or faststream broker, takes the same settings: the URL
(`NATS_URL`, a comma-separated server list; user/password or token inside a URL work as
nats-py reads them) and, all optional, from the environment:

- `NATS_CREDS`: path of a credentials file (user JWT + NKey seed, `.creds`);
- `NATS_NKEY_SEED`: path of an NKey seed file (at most one of these two);
- `NATS_TLS_CA`: path of the CA bundle that signs the servers' certificates (without it,
  TLS, which a `tls://` URL or any `NATS_TLS_*` variable turns on, trusts the system's
  default CA store);
- `NATS_TLS_CERT`, `NATS_TLS_KEY`: paths of the client certificate and its key;
- `NATS_TLS_HOSTNAME`: the name to check the servers' certificates against.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from faststream.nats.security import NatsCredentials, NatsNKey, NatsSecurity
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore

from baro_contracts.streams import StreamSpec

log = logging.getLogger(__name__)


def reconnect_options(name: str, client: Client | None = None) -> dict[str, Any]:
    """Reconnect forever, and say so once when the connection is lost and once when it is
    back (nats-py's default logs an error with its traceback at every attempt). The same
    for nats-py clients and faststream brokers; with `client`, closing it says nothing."""

    async def disconnected() -> None:
        if client is None or not client.is_closed:
            log.warning("NATS connection %s lost; reconnecting", name)

    async def reconnected() -> None:
        log.warning("NATS connection %s back", name)

    async def error(exc: Exception) -> None:
        log.debug("NATS connection %s: %s", name, exc)

    return {
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
    }


FILE_VARIABLES = ("NATS_CREDS", "NATS_NKEY_SEED", "NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY")


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and as whom to connect, read from the URL and the environment (checked)."""

    servers: list[str]
    credentials: str | None = None
    nkey_seed: str | None = None
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None

    @classmethod
    def from_env(cls, url: str) -> ConnectionSettings:
        servers = [server.strip() for server in url.split(",") if server.strip()]
        if not servers:
            raise RuntimeError(f"NATS_URL {url!r} names no server: set it to e.g. nats://host:4222")
        files = {variable: _readable_file(variable) for variable in FILE_VARIABLES}
        credentials, nkey_seed = files["NATS_CREDS"], files["NATS_NKEY_SEED"]
        if credentials and nkey_seed:
            raise RuntimeError("NATS_CREDS and NATS_NKEY_SEED are both set: unset one of them")
        if (credentials or nkey_seed) and any(urlsplit(s).username for s in servers):
            which = "NATS_CREDS" if credentials else "NATS_NKEY_SEED"
            raise RuntimeError(
                f"NATS_URL carries a user and {which} is set: keep only one way to log in"
            )
        ca, cert, key = files["NATS_TLS_CA"], files["NATS_TLS_CERT"], files["NATS_TLS_KEY"]
        if key and not cert:
            raise RuntimeError("NATS_TLS_KEY is set without NATS_TLS_CERT: set both, or neither")
        hostname = os.environ.get("NATS_TLS_HOSTNAME") or None
        tls_url = any(server.startswith("tls://") for server in servers)
        tls = _tls_context(ca, cert, key) if tls_url or ca or cert or hostname else None
        return cls(servers, credentials, nkey_seed, tls, hostname)


def _readable_file(variable: str) -> str | None:
    path = os.environ.get(variable)
    if not path:
        return None
    try:
        with Path(path).open("rb") as file:
            file.read(1)
    except OSError as exc:
        raise RuntimeError(
            f"{variable} is set to {path!r}, which cannot be read ({exc.strerror or exc}): "
            f"point {variable} at an existing, readable file, or unset it"
        ) from exc
    return path


def _tls_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except ssl.SSLError as exc:
        raise RuntimeError(f"NATS_TLS_CA {ca!r} holds no usable CA certificate: {exc}") from exc
    if cert:
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise RuntimeError(
                f"NATS_TLS_CERT {cert!r} / NATS_TLS_KEY {key!r} are not a certificate and "
                f"its matching private key (PEM): {exc}"
            ) from exc
    return context


def connection_options(url: str, name: str, client: Client | None = None) -> dict[str, Any]:
    """The keyword arguments of nats-py's `Client.connect(**options)`: the servers of `url`
    (comma-separated), the credentials and TLS of the environment, and `reconnect_options`.
    A variable naming a file that cannot be read is a RuntimeError that says so, here."""
    settings = ConnectionSettings.from_env(url)
    options: dict[str, Any] = {
        "servers": settings.servers,
        "name": name,
        **reconnect_options(name, client),
    }
    if settings.credentials:
        options["user_credentials"] = settings.credentials
    if settings.nkey_seed:
        options["nkeys_seed"] = settings.nkey_seed
    if settings.tls is not None:
        options["tls"] = settings.tls
    if settings.tls_hostname:
        options["tls_hostname"] = settings.tls_hostname
    return options


def broker_options(url: str, name: str) -> dict[str, Any]:
    """The same settings as keyword arguments of faststream's `NatsBroker(**options)`, which
    takes credentials and TLS as one `security` object (its `user_credentials`, `nkeys_seed`
    and `tls_hostname` arguments are deprecated, and it has no `tls` argument)."""
    settings = ConnectionSettings.from_env(url)
    context, hostname = settings.tls, settings.tls_hostname
    security: NatsSecurity | None = None
    if settings.credentials:
        security = NatsCredentials.from_file(
            settings.credentials, ssl_context=context, tls_hostname=hostname
        )
    elif settings.nkey_seed:
        security = NatsNKey.from_file(
            settings.nkey_seed, ssl_context=context, tls_hostname=hostname
        )
    elif context is not None or hostname:
        security = NatsSecurity(ssl_context=context, tls_hostname=hostname)
    options: dict[str, Any] = {"servers": settings.servers, "name": name, **reconnect_options(name)}
    if security is not None:
        options["security"] = security
    return options


async def connect(url: str, name: str) -> Client:
    """A nats-py client connected to `url` (a server list) with the environment's settings."""
    client = Client()
    await client.connect(**connection_options(url, name, client))
    return client


REPLICAS_VARIABLE = "BARO_STREAM_REPLICAS"
MAX_REPLICAS = 5
"""JetStream's largest replica count."""


def stream_replicas() -> int:
    """How many servers keep each stream, object store and consumer the services create:
    `BARO_STREAM_REPLICAS` (1 on one server; 3 in production, on a 3-node cluster)."""
    value = os.environ.get(REPLICAS_VARIABLE, "1")
    if not value.isdigit() or not 1 <= int(value) <= MAX_REPLICAS:
        raise RuntimeError(
            f"{REPLICAS_VARIABLE}={value!r}: set it to a whole number from 1 to {MAX_REPLICAS} "
            "(1 on one NATS server, 3 on a 3-node cluster)"
        )
    return int(value)


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create the stream with `stream_replicas()` replicas, or bring an existing one's
    subjects, duplicate window and description up to date. Never deletes data, and never
    changes what an operator set: the rest of its configuration is kept, and its replicas
    are raised to the setting, never lowered (a stream made R3 by hand stays R3)."""
    replicas = stream_replicas()
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=StorageType.FILE,
                duplicate_window=spec.duplicate_window_seconds,
                description=spec.description,
                num_replicas=replicas,
            )
        )
        return
    config = info.config
    wanted = replace(
        config,
        subjects=list(spec.subjects),
        duplicate_window=spec.duplicate_window_seconds,
        description=spec.description,
        num_replicas=max(config.num_replicas or 1, replicas),
    )
    if wanted != config:
        await js.update_stream(wanted)


async def ensure_object_store(js: JetStreamContext, bucket: str, description: str) -> ObjectStore:
    """The object store `bucket`, created (file storage) if it does not exist yet."""
    try:
        return await js.object_store(bucket)
    except BucketNotFoundError:
        return await js.create_object_store(
            bucket,
            ObjectStoreConfig(
                description=description, storage=StorageType.FILE, replicas=stream_replicas()
            ),
        )
