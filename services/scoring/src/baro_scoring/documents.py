"""The published results documents, made available to other services as a contract.

Each publication's canonical text (the bytes its fingerprint is the SHA-256 of) is put in
the JetStream object store `RESULTS_BUCKET`, named by edition and fingerprint. Done just
after a publication commits, and at every start for any publication not there yet (one made
before a crash, or before this existed), so the bucket always ends up holding every one.
"""

from __future__ import annotations

import logging

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import ObjectNotFoundError

from baro_chassis.nats import ensure_object_store
from baro_contracts.scoring_v1 import RESULTS_BUCKET, results_object_name

log = logging.getLogger(__name__)


async def keep_published_documents(pool: asyncpg.Pool, js: JetStreamContext) -> int:
    """Put every publication's document that the bucket lacks; returns how many it put."""
    store = await ensure_object_store(
        js, RESULTS_BUCKET, "Published results documents: <edition>/<fingerprint>.json"
    )
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT edition, fingerprint FROM publications ORDER BY edition")
    put = 0
    for row in rows:
        name = results_object_name(row["edition"], row["fingerprint"])
        try:
            await store.get_info(name)
            continue
        except ObjectNotFoundError:
            pass
        async with pool.acquire() as conn:
            text = await conn.fetchval(
                "SELECT document::text FROM publications WHERE edition = $1", row["edition"]
            )
        await store.put(name, text.encode())
        log.info("published results of %s put in %s as %s", row["edition"], RESULTS_BUCKET, name)
        put += 1
    return put
