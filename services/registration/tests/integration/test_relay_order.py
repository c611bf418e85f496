"""The relay sends a batch's events together, yet the stream never holds them out of order:
when JetStream refuses one, it refuses every later one of the batch, the relay's position
stops before it, and the next attempt publishes them all, once each, in order."""

from __future__ import annotations

from datetime import date

import nats
import pytest

from baro_chassis.settings import Settings
from baro_contracts.registration_v1 import Participation, StructureKind
from baro_registration.main import build_application, build_relay
from registration_builders import make_siret

pytestmark = pytest.mark.integration

STRUCTURES = 8
TOO_LARGE_FOR_THE_STREAM = 4  # its event is over the stream's message size limit, at first


def register(application, number: int) -> None:  # type: ignore[no-untyped-def]
    application.register(
        2027,
        siret=make_siret(20_000 + number),
        # One name long enough to make its event larger than the stream will take.
        name=("Structure " * (600 if number == TOO_LARGE_FOR_THE_STREAM else 1)) + str(number),
        kind=StructureKind.FRANCE_SERVICES,
        population=None,
        department="33",
        contacts={"referrer": {"name": "A", "email": "a@example.fr", "phone": "0102030405"}},
        sites=[{"name": "Accueil", "kind": "main", "address": "1 rue A", "contact_points": {}}],
        participation=Participation.PAID,
        options={},
        certifications=[],
    )


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
    application.open_edition(
        year=2027,
        registration_deadline=date(2099, 3, 15),
        audit_window_start=date(2099, 4, 1),
        audit_window_end=date(2099, 5, 31),
        free_places=0,
    )
    for number in range(STRUCTURES):
        register(application, number)
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
