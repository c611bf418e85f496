"""NATS JetStream wiring: connections and the streams the contracts declare."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore

from baro_contracts.streams import StreamSpec


async def connect(url: str, name: str) -> Client:
    return await nats.connect(url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5)


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
