"""The relay sends a batch's events together, yet the stream never holds them out of order:
when JetStream refuses one, it refuses every later one of the batch, the relay's position
stops before it, and the next attempt publishes them all, once each, in order."""

from __future__ import annotations

import nats
import pytest

from baro_chassis.settings import Settings
from baro_registration.main import build_application, build_relay
from registration_builders import open_edition_directly, register_directly

pytestmark = pytest.mark.integration

STRUCTURES = 8
TOO_LARGE_FOR_THE_STREAM = 4  # its event is over the stream's message size limit, at first


async def stream_ids(js: nats.js.JetStreamContext) -> list[int]:
    info = await js.stream_info("REGISTRATION")
    sub = await js.subscribe("registration.>", ordered_consumer=True)
    ids = [
        int((await sub.next_msg(timeout=5)).headers["Nats-Msg-Id"].split(":")[1])
        for _ in range(info.state.messages)
    ]
    await sub.unsubscribe()
    return ids


async def test_a_refused_event_holds_back_the_rest_of_its_batch(settings_for: Settings) -> None:
    application = build_application(settings_for)
    open_edition_directly(application)
    for number in range(STRUCTURES):
        # One name long enough to make its event larger than the stream will take at first.
        long = number == TOO_LARGE_FOR_THE_STREAM
        register_directly(application, number, "Structure " * 600 if long else None)
    published = [
        n.id
        for n in application.recorder.select_notifications(start=1, limit=1000)
        if n.topic.endswith(("Registration.Registered", "Edition.Opened"))
    ]
    too_large = published[1 + TOO_LARGE_FOR_THE_STREAM]
    relay = build_relay(settings_for, application)
    nc = await nats.connect(settings_for.nats_url)
    js = nc.jetstream()
    try:
        await relay.open()
        config = (await js.stream_info("REGISTRATION")).config
        config.max_msg_size = 4096
        await js.update_stream(config)

        with pytest.raises(nats.js.errors.BadRequestError):
            await relay.publish_pending()

        # What came before the refused event is on the stream; nothing after it is.
        assert await stream_ids(js) == [p for p in published if p < too_large]
        assert await relay.position() < too_large

        config.max_msg_size = -1
        await js.update_stream(config)
        await relay.publish_pending()

        assert await stream_ids(js) == published
        assert await relay.position() == application.recorder.max_notification_id()
    finally:
        await relay.close()
        await nc.close()
        application.close()
