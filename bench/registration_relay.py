"""Relay throughput: how fast stored registration events reach JetStream.

Starts its own embedded NATS and PostgreSQL on loopback (stopped at the end), stores N
registrations, then times the relay publishing them; prints the plain publish rate of the
same payloads (nats-py, awaiting each ack) as the reference ratio.

    uv run python bench/registration_relay.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import nats

from baro_chassis.embedded import EmbeddedNats, EmbeddedPostgres
from baro_chassis.postgres import ensure_database, eventsourcing_env
from baro_chassis.relay import Relay
from baro_chassis.settings import database_url_for
from baro_contracts.registration_v1 import Participation, StructureKind
from baro_contracts.streams import REGISTRATION_STREAM
from baro_registration.application import RegistrationApplication
from baro_registration.domain import siret_problem
from baro_registration.translation import RegistrationTranslator


def siret(number: int) -> str:
    body = f"{number:013d}"
    return next(body + d for d in "0123456789" if siret_problem(body + d) is None)


async def main(count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="baro-bench-"))
    pg = EmbeddedPostgres(root / "pg").start()
    server = EmbeddedNats(root / "nats").start()
    try:
        url = database_url_for(pg.url, "bench")
        ensure_database(url)
        app = RegistrationApplication(env=eventsourcing_env(url))
        app.open_edition(
            year=2030,
            registration_deadline=date(2099, 1, 1),
            audit_window_start=date(2099, 2, 1),
            audit_window_end=date(2099, 3, 1),
            free_places=0,
        )
        started = time.perf_counter()
        for n in range(count):
            app.register(
                2030,
                siret=siret(n),
                name=f"S{n}",
                kind=StructureKind.SOCIAL_SERVICE,
                population=None,
                department="75",
                contacts={"referrer": {"name": "A", "email": "a@b.fr", "phone": "0102"}},
                sites=[{"name": "A", "kind": "main", "address": "1 rue", "contact_points": {}}],
                participation=Participation.PAID,
                options={},
                certifications=[],
            )
        stored = time.perf_counter() - started
        relay = Relay(
            service="registration",
            application=app,
            translate=RegistrationTranslator(app),
            stream=REGISTRATION_STREAM,
            nats_url=server.url,
            database_url=url,
        )
        await relay.open()
        started = time.perf_counter()
        while await relay.publish_pending():
            pass
        relayed = time.perf_counter() - started
        await relay.close()

        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="BENCH", subjects=["bench.>"])
        payload = b"x" * 900
        started = time.perf_counter()
        for n in range(count):
            await js.publish("bench.x", payload, headers={"Nats-Msg-Id": f"b:{n}"})
        plain = time.perf_counter() - started
        await nc.close()
        app.close()

        print(f"registrations stored (get-act-save, 4 events each): {count / stored:8.0f} /s")
        print(f"relay: public events read, translated, published:   {count / relayed:8.0f} /s")
        print(f"reference: plain nats-py publish awaiting each ack: {count / plain:8.0f} /s")
        print(f"relay / plain publish ratio:                        {plain / relayed:8.2f}")
    finally:
        server.stop()
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
