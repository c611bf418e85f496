"""An edition's messages read back from the streams that retain them, for a replay and for
the benchmark's plain read: through nats-py (an ordered consumer, in memory, removed when
done), on a connection made like every other one (`baro_chassis.nats.connect`: server
lists, credentials, TLS).

Only the messages stored when a read starts are read: later ones are left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from baro_contracts.scoring_v1 import ResultsPublished
from baro_contracts.streams import AUDIT_STREAM, REGISTRATION_STREAM, SCORING_STREAM

EDITION_SOURCES = (
    (REGISTRATION_STREAM.name, "registration.v1.{edition}.>"),
    (AUDIT_STREAM.name, "audit.v1.{edition}.>"),
)
"""Where an edition's facts are: registration's first, then audit-ingest's."""
SILENCE_SECONDS = 30.0
"""No message for this long while some are still to come: the read fails rather than hangs."""

OnMessage = Callable[[Msg], None]


class StreamReadError(RuntimeError):
    pass


@dataclass(frozen=True)
class Stored:
    """What a stream holds on a subject when asked."""

    messages: int
    last_sequence: int


async def stored(js: JetStreamContext, stream: str, subject: str) -> Stored:
    try:
        info = await js.stream_info(stream, subjects_filter=subject)
    except NotFoundError:
        return Stored(0, 0)
    return Stored(sum((info.state.subjects or {}).values()), info.state.last_seq)


async def read_stored(
    js: JetStreamContext, stream: str, subject: str, on_message: OnMessage
) -> int:
    """Every message on `subject` the stream holds now, in stream order, to `on_message`;
    returns how many."""
    held = await stored(js, stream, subject)
    if not held.messages:
        return 0
    read = 0
    done = asyncio.Event()

    async def take(message: Msg) -> None:
        nonlocal read
        if done.is_set():
            return
        metadata = message.metadata
        if metadata.sequence.stream <= held.last_sequence:
            on_message(message)
            read += 1
        if (
            read == held.messages
            or metadata.num_pending == 0
            or metadata.sequence.stream >= held.last_sequence
        ):
            done.set()

    subscription = await js.subscribe(subject, stream=stream, cb=take, ordered_consumer=True)
    try:
        while not done.is_set():
            before = read
            try:
                await asyncio.wait_for(done.wait(), SILENCE_SECONDS)
            except TimeoutError:
                if read == before:
                    raise StreamReadError(
                        f"{stream}: no message on {subject} for {SILENCE_SECONDS:g} s after "
                        f"{read} of {held.messages}"
                    ) from None
    finally:
        await subscription.unsubscribe()
    return read


async def read_edition(nc: Client, edition: int, on_message: OnMessage) -> int:
    """Every registration.v1 and audit.v1 message of the edition the streams hold now, in
    stream order (registration's first); returns how many."""
    js = nc.jetstream()
    read = 0
    for stream, pattern in EDITION_SOURCES:
        read += await read_stored(js, stream, pattern.format(edition=edition), on_message)
    return read


async def edition_size(nc: Client, edition: int) -> int:
    """How many messages `read_edition` would read now."""
    js = nc.jetstream()
    sizes = [await stored(js, s, p.format(edition=edition)) for s, p in EDITION_SOURCES]
    return sum(size.messages for size in sizes)


async def published_results(nc: Client, edition: int) -> ResultsPublished | None:
    """The edition's `results_published` event on the SCORING stream, if there is one."""
    bodies: list[bytes] = []
    subject = ResultsPublished.subject_for(edition)
    await read_stored(nc.jetstream(), SCORING_STREAM.name, subject, lambda m: bodies.append(m.data))
    return ResultsPublished.model_validate_json(bodies[0]) if bodies else None
