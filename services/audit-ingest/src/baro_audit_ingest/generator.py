"""A realistic campaign, deterministic for a seed: structures of every category to register,
and, once their plans are issued, the probes that follow those plans.

Answer rates follow the edition's published figures (domain.md): per-channel levels from the
2020 synthesis, the phone, email, mail, social and website measures of the year's synthesis
(the nearest published year for others), certified structures better than the rest.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from baro_audit_ingest.referential import ReferentialDocument
from baro_contracts.audit_v1 import NOT_APPLICABLE, Channel, ChoiceAnswer, Item, MeasureAnswer, Step

PARIS = ZoneInfo("Europe/Paris")
PROBE_NAMESPACE = uuid.UUID("8d6d1f0e-2b7c-4f8e-9a35-0c4e7b9d1a52")


@dataclass(frozen=True)
class Figures:
    """The published measures of one edition's synthesis (domain.md)."""

    phone_first_attempt: float
    phone_mean_rings: float
    phone_mean_wait_seconds: float
    email_within_24h: float
    email_within_5_days: float
    email_within_10_days: float
    mail_within_15_days: float
    facebook_within_a_day: float
    x_response_rate: float
    website_rgaa: float
    website_satisfaction_synthesis: float
    website_navigation_help: float
    website_online_procedures: float
    polite_formula: float


FIGURES: dict[int, Figures] = {
    2021: Figures(0.96, 2.2, 16, 0.40, 0.55, 0.60, 0.45, 0.80, 0.30, 0.15, 0.15, 0.20, 0.70, 0.99),
    2022: Figures(0.77, 5.5, 25, 0.38, 0.50, 0.55, 0.40, 0.80, 0.30, 0.16, 0.15, 0.20, 0.74, 0.99),
    2023: Figures(0.77, 5.0, 28, 0.38, 0.50, 0.55, 0.40, 0.82, 0.29, 0.17, 0.16, 0.27, 0.74, 0.99),
}

# Channel levels of the 2020 synthesis (phone 81, email 63, website 63, social 72, mail 50)
# and the 2022 visits (86): the chance an item is in its best state.
CHANNEL_LEVEL = {
    Channel.PHONE: 0.81,
    Channel.EMAIL: 0.63,
    Channel.WEBSITE: 0.63,
    Channel.SOCIAL: 0.72,
    Channel.MAIL: 0.50,
    Channel.VISIT: 0.86,
}
CERTIFIED_BONUS = 0.08  # 2020: certified structures 69, +8 on the others

# (category, kind, population range or None, share of the panel)
CATEGORY_MIX: list[tuple[str, str, tuple[int, int] | None, float]] = [
    ("city_over_50k", "commune", (50_000, 520_000), 0.14),
    ("city_20k_50k", "commune", (20_000, 49_999), 0.16),
    ("city_under_20k", "commune", (800, 19_999), 0.20),
    ("intercommunality", "intercommunality", (15_000, 450_000), 0.12),
    ("department", "department", (80_000, 2_600_000), 0.08),
    ("region", "region", (300_000, 12_000_000), 0.03),
    ("france_services", "france_services", None, 0.10),
    ("social_services", "social_service", None, 0.07),
    ("development_services", "tourist_office", None, 0.06),
    ("other_public", "other_public", None, 0.04),
]
PLACE_NAMES = [
    "Villeurbanne", "Cannes", "Vernon", "Cernay", "Bourg-en-Bresse", "Saumur", "Montauban",
    "Dax", "Besançon", "Strasbourg", "Angers", "Laval", "Colmar", "Pau", "Niort", "Quimper",
    "Valence", "Arles", "Auxerre", "Rodez", "Albi", "Vichy", "Épinal", "Moulins", "Tarbes",
]  # fmt: skip
KIND_LABELS = {
    "commune": "Commune",
    "intercommunality": "Communauté de communes",
    "department": "Département",
    "region": "Région",
    "france_services": "Maison France Services",
    "social_service": "Centre communal d'action sociale",
    "tourist_office": "Office de tourisme",
    "development_service": "Agence de développement",
    "library": "Médiathèque",
    "hospital": "Centre hospitalier",
    "other_public": "Service public",
}
"""How a structure of each kind is named in French, before its place."""
DEPARTMENTS = ["01", "06", "13", "27", "31", "33", "40", "44", "49", "53", "59", "67", "69", "75"]


def figures_for(year: int) -> Figures:
    nearest = min(FIGURES, key=lambda published: (abs(published - year), -published))
    return FIGURES[nearest]


def _rng(*parts: object) -> random.Random:
    key = "/".join(str(p) for p in parts)
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest(), 16))


def structure_name(kind: str, place: str, number: int) -> str:
    """ "Office de tourisme de Pau n°62", "Département d'Angers n°81"."""
    of_place = f"d'{place}" if place[0] in "AEIOUYÉÈÊaeiouyéèê" else f"de {place}"
    return f"{KIND_LABELS[kind]} {of_place} n°{number}"


def siret_for(number: int) -> str:
    """A valid SIRET (Luhn) made from a number, in the 2xx public-body range."""
    body = f"2{number:012d}"
    for check in "0123456789":
        digits = [int(d) for d in body + check]
        total = sum(
            d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
            for i, d in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


def structures(count: int, seed: int, year: int) -> list[dict[str, Any]]:
    """`count` registration bodies for the registration API, every category represented."""
    rng = _rng("structures", seed, year)
    bodies = []
    shares = [share for *_, share in CATEGORY_MIX]
    for number in range(count):
        _, kind, population, _ = (
            CATEGORY_MIX[number]
            if number < len(CATEGORY_MIX)
            else rng.choices(CATEGORY_MIX, shares)[0]
        )
        place = PLACE_NAMES[rng.randrange(len(PLACE_NAMES))]
        paid = rng.random() < 0.8
        sites = [
            {
                "name": "Accueil principal" if index == 0 else f"Antenne {index}",
                "kind": "main" if index == 0 else "annex",
                "address": f"{index + 1} place de la République, {place}",
                "contact_points": {"phone": "+33 1 00 00 00 00", "email": "accueil@example.fr"},
            }
            for index in range(1 if rng.random() < 0.7 else rng.randint(2, 3))
        ]
        bodies.append(
            {
                "siret": siret_for(seed * 100_000 + number + 1),
                "name": structure_name(kind, place, number + 1),
                "kind": kind,
                "population": rng.randint(*population) if population else None,
                "department": rng.choice(DEPARTMENTS),
                "contacts": {
                    "referrer": {
                        "name": "Référent accueil",
                        "email": "referent@example.fr",
                        "phone": "+33 1 00 00 00 01",
                    }
                },
                "sites": sites,
                "participation": "paid" if paid else "free",
                "options": {
                    "physical_visit": paid and rng.random() < 0.3,
                    "social_listening": rng.random() < 0.2,
                    "oral_restitution": paid and rng.random() < 0.25,
                },
                "certifications": rng.sample(
                    ["qualivilles", "label_marianne", "iso_9001", "services_publics_plus"],
                    k=rng.choice([0, 0, 0, 1, 1, 2]),
                ),
            }
        )
    return bodies


def probe_id_for(seed: int, year: int, registration_id: str, slot: int) -> uuid.UUID:
    return uuid.uuid5(PROBE_NAMESPACE, f"{seed}/{year}/{registration_id}/{slot}")


def probes_for_plan(
    *,
    plan: dict[str, Any],
    referential: ReferentialDocument,
    certified: bool,
    seed: int,
    year: int,
) -> list[dict[str, Any]]:
    """One probe per slot of `plan`, performed on its planned day by its planned auditor."""
    registration_id = plan["registration_id"]
    quality = _rng("quality", seed, registration_id).gauss(0, 0.08)
    quality += CERTIFIED_BONUS if certified else 0.0
    figures = figures_for(year)
    probes = []
    for slot in plan["probes"]:
        rng = _rng("probe", seed, registration_id, slot["slot"])
        channel = Channel(slot["channel"])
        measures = _measures(channel, figures, quality, rng)
        answers = _answers(referential, channel, measures, quality, rng)
        hour = time(rng.randint(9, 16), rng.choice([0, 15, 30, 45]))
        performed = datetime.combine(date.fromisoformat(slot["planned_on"]), hour, PARIS)
        probes.append(
            {
                "edition": year,
                "probe_id": str(probe_id_for(seed, year, registration_id, slot["slot"])),
                "registration_id": registration_id,
                "site_id": slot["site_id"],
                "channel": channel.value,
                "auditor_id": slot["auditor_id"],
                "performed_at": performed.astimezone(UTC).isoformat(),
                "answers": answers,
                "measures": measures,
            }
        )
    return probes


def _chance(rate: float, quality: float) -> float:
    return min(0.995, max(0.02, rate + quality))


def _delay_hours(rng: random.Random, within: list[tuple[float, int, int]]) -> int | None:
    """Pick a reply delay from cumulative shares: [(share answered by then, low, high)…]."""
    draw = rng.random()
    for share, low, high in within:
        if draw < share:
            return rng.randint(low, high)
    return None


def _measures(channel: Channel, f: Figures, quality: float, rng: random.Random) -> dict[str, Any]:
    polite = rng.random() < f.polite_formula
    if channel is Channel.PHONE:
        first = rng.random() < _chance(f.phone_first_attempt, quality)
        rings = max(1, min(30, round(rng.expovariate(1 / f.phone_mean_rings))))
        wait = min(900, round(rng.expovariate(1 / f.phone_mean_wait_seconds)))
        return {
            "answered_first_attempt": first,
            "rings": rings,
            "waiting_seconds": wait,
            "polite_formula": polite,
        }
    if channel is Channel.EMAIL:
        hours = _delay_hours(
            rng,
            [
                (_chance(f.email_within_24h, quality), 1, 24),
                (_chance(f.email_within_5_days, quality), 25, 120),
                (_chance(f.email_within_10_days, quality), 121, 240),
                (_chance(f.email_within_10_days, quality) + 0.1, 241, 600),
            ],
        )
        return _reply(hours, "reply_delay_hours", polite)
    if channel is Channel.MAIL:
        days = _delay_hours(
            rng,
            [
                (_chance(f.mail_within_15_days, quality), 2, 15),
                (_chance(f.mail_within_15_days, quality) + 0.15, 16, 45),
            ],
        )
        return _reply(days, "reply_delay_days", polite)
    if channel is Channel.SOCIAL:
        facebook = rng.random() < 0.8
        rate = f.facebook_within_a_day if facebook else f.x_response_rate
        hours = _delay_hours(rng, [(_chance(rate, quality), 1, 24), (rate + 0.05, 25, 96)])
        return {
            "network": "facebook" if facebook else "x",
            **_reply(hours, "reply_delay_hours", polite),
        }
    if channel is Channel.WEBSITE:
        return {
            "rgaa_compliant": rng.random() < _chance(f.website_rgaa, quality / 2),
            "satisfaction_synthesis_published": rng.random()
            < _chance(f.website_satisfaction_synthesis, quality / 2),
            "navigation_help": rng.random() < _chance(f.website_navigation_help, quality / 2),
            "online_procedures": rng.random() < _chance(f.website_online_procedures, quality),
        }
    return {"waiting_seconds": min(3000, round(rng.expovariate(1 / 240)))}


def _reply(delay: int | None, field: str, polite: bool) -> dict[str, Any]:
    if delay is None:
        return {"answered": False}
    return {"answered": True, field: delay, "polite_formula": polite}


def _answers(
    referential: ReferentialDocument,
    channel: Channel,
    measures: dict[str, Any],
    quality: float,
    rng: random.Random,
) -> dict[str, Any]:
    no_reply = measures.get("answered") is False
    level = _chance(CHANNEL_LEVEL[channel], quality)
    answers: dict[str, Any] = {}
    for item in referential.items_by_channel[channel]:
        if item.measure is not None:
            value = measures.get(item.measure)
            answers[item.code] = NOT_APPLICABLE if value is None else value
        elif no_reply and item.step is not Step.ACCESS:
            answers[item.code] = _worst(item)
        elif rng.random() < 0.03:
            answers[item.code] = NOT_APPLICABLE
        else:
            answers[item.code] = _value(item, rng.random() < level, rng)
    return answers


def _value(item: Item, good: bool, rng: random.Random) -> Any:
    spec = item.answer
    if isinstance(spec, ChoiceAnswer):
        ranked = sorted(spec.choices, key=lambda choice: spec.choices[choice], reverse=True)
        return ranked[0] if good else rng.choice(ranked[1:])
    if isinstance(spec, MeasureAnswer):
        return spec.minimum if good else spec.maximum
    return good


def _worst(item: Item) -> Any:
    spec = item.answer
    if isinstance(spec, ChoiceAnswer):
        return min(spec.choices, key=lambda choice: spec.choices[choice])
    if isinstance(spec, MeasureAnswer):
        return spec.maximum
    return False


def edition_dates(year: int) -> dict[str, Any]:
    """The registration API's body for a demo edition: deadline mid-March, audits April to May."""
    return {
        "year": year,
        "registration_deadline": date(year, 3, 15).isoformat(),
        "audit_window_start": date(year, 4, 1).isoformat(),
        "audit_window_end": (date(year, 6, 1) - timedelta(days=1)).isoformat(),
        "free_places": 60,
    }
