"""Audit plans: which channel, site, day and mystery auditor for each of a structure's probes.

A plan is a pure function of its inputs and a seed, so it can be recomputed and checked.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from baro_contracts.audit_v1 import Channel

DEFAULT_CHANNEL_MIX: dict[Channel, int] = {
    Channel.PHONE: 4,
    Channel.EMAIL: 3,
    Channel.MAIL: 2,
    Channel.WEBSITE: 2,
    Channel.SOCIAL: 2,
}
"""13 probes; the physical-visit option adds one visit."""

DEFAULT_AUDITOR_POOL: tuple[str, ...] = tuple(f"MC-{n:03d}" for n in range(1, 41))
"""Forty mystery citizens, enough for each structure's probes to have different auditors."""

# Channels about the structure as a whole rather than one reception point.
STRUCTURE_WIDE = frozenset({Channel.WEBSITE, Channel.SOCIAL})


def plan_seed(edition_seed: str, registration_id: UUID) -> str:
    return f"{edition_seed}/{registration_id}"


def plan_probes(
    *,
    seed: str,
    sites: list[dict[str, Any]],
    physical_visit: bool,
    window_start: date,
    window_end: date,
    channel_mix: dict[Channel, int],
    auditors: tuple[str, ...] | list[str],
) -> list[dict[str, Any]]:
    """The plan's probes in date order, slots numbered from 1.

    Channels are shuffled, then one probe falls in each of as many equal stretches of the
    window, so probes spread over the two months. Website and social probes go to the main
    site; the others rotate over every site. Auditors differ while the pool allows.
    """
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest(), 16))
    channels = [channel for channel, count in channel_mix.items() for _ in range(count)]
    if physical_visit:
        channels.append(Channel.VISIT)
    rng.shuffle(channels)

    days = (window_end - window_start).days + 1
    count = len(channels)
    planned_on = []
    for index in range(count):
        first, last = (
            index * days // count,
            max(index * days // count, (index + 1) * days // count - 1),
        )
        planned_on.append(window_start + timedelta(days=min(rng.randint(first, last), days - 1)))

    main = next((s for s in sites if s["kind"] == "main"), sites[0])
    rotation = sorted(sites, key=lambda s: (s["kind"] != "main", str(s["site_id"])))
    offset = rng.randrange(len(rotation))
    pool = list(auditors)
    chosen = rng.sample(pool, min(count, len(pool)))

    probes = []
    rotating = 0
    for index, channel in enumerate(channels):
        if channel in STRUCTURE_WIDE:
            site = main
        else:
            site = rotation[(offset + rotating) % len(rotation)]
            rotating += 1
        probes.append(
            {
                "slot": index + 1,
                "channel": channel.value,
                "site_id": site["site_id"],
                "planned_on": planned_on[index],
                "auditor_id": chosen[index % len(chosen)],
            }
        )
    return probes
