"""Reading retained streams from their start, through nats-py's ordered consumer (the
standard client, with the same connection settings as every other connection)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

IDLE_SECONDS = 5.0


async def read_subject(js: JetStreamContext, stream: str, subject: str) -> AsyncIterator[Msg]:
    """Every message of `stream` on `subject` (wildcards allowed) stored when the read
    starts, in stream order."""
    info = await js.stream_info(stream, subjects_filter=subject)
    if not sum((info.state.subjects or {}).values()):
        return
    sub = await js.subscribe(
        subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=IDLE_SECONDS)
            except TimeoutError:
                raise TimeoutError(
                    f"{stream} stopped sending {subject} for {IDLE_SECONDS}s before its end"
                ) from None
            yield msg
            if msg.metadata.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()
