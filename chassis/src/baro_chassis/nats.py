"""NATS JetStream wiring: connections and the streams the contracts declare."""

from __future__ import annotations

import logging
from typing import Any

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


async def connect(url: str, name: str) -> Client:
    client = Client()
    await client.connect(url, name=name, **reconnect_options(name, client))
    return client


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create the stream, or bring its subjects and windows up to date; never deletes data."""
    config = StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=StorageType.FILE,
        duplicate_window=spec.duplicate_window_seconds,
        description=spec.description,
    )
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


async def ensure_object_store(js: JetStreamContext, bucket: str, description: str) -> ObjectStore:
    """The object store `bucket`, created (file storage) if it does not exist yet."""
    try:
        return await js.object_store(bucket)
    except BucketNotFoundError:
        return await js.create_object_store(
            bucket, ObjectStoreConfig(description=description, storage=StorageType.FILE)
        )
