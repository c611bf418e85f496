"""The recorded edition 2029 (`golden/edition_2029.jsonl.gz`): published by the scoring of
commit 124932c under `baro-scoring-1`, every message of its streams as it was (see
`golden/capture.py`). Whatever scoring becomes, it must give this edition the fingerprint
it was published with: a published fingerprint is forever."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import nats

from baro_chassis.consumers import ensure_streams
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM, SCORING_STREAM

YEAR = 2029
PATH = Path(__file__).parent / "golden" / "edition_2029.jsonl.gz"
PUBLISHED_FINGERPRINT = "ecdc5bcfe2095bdb7eb4a4566c2f1ffe90b6d6b9401282bfbbb55c112500093f"


@dataclass(frozen=True)
class Recorded:
    stream: str
    subject: str
    headers: dict[str, str]
    data: bytes


def recorded_messages() -> list[Recorded]:
    """Every message of the three streams, in each stream's order."""
    with gzip.open(PATH, "rt", encoding="utf-8") as lines:
        return [
            Recorded(m["stream"], m["subject"], m["headers"], base64.b64decode(m["data"]))
            for m in map(json.loads, lines)
        ]


async def restore_streams(nats_url: str) -> int:
    """The recorded messages put back on their streams as they were; returns how many."""
    await ensure_streams(nats_url, REGISTRATION_STREAM, AUDIT_STREAM, SCORING_STREAM)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        messages = recorded_messages()
        for message in messages:
            await js.publish(message.subject, message.data, headers=message.headers or None)
        return len(messages)
    finally:
        await nc.close()


def restore(nats_url: str) -> int:
    return asyncio.run(restore_streams(nats_url))
