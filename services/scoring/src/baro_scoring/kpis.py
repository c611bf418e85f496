"""The channel KPIs of the national synthesis, from the measures probes carry.

Each KPI counts, over the probes it concerns, a numerator and a denominator (whole
numbers): a percentage is 100 * numerator / denominator, a mean is numerator / denominator.
Counts add up across structures, so the nation's KPI is exact whatever the grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from baro_contracts.audit_v1 import Channel
from baro_scoring.rules import CONTEXT, HUNDRED

Measures = Mapping[str, Any]
Observation = tuple[int, int] | None
"""(numerator, denominator) one probe adds to a KPI; None when it says nothing about it."""


@dataclass(frozen=True)
class Kpi:
    code: str
    channel: str
    label: str
    kind: str  # "percent" or "mean"
    observe: Callable[[Measures], Observation]

    def value(self, numerator: int, denominator: int) -> Decimal | None:
        if not denominator:
            return None
        scale = HUNDRED if self.kind == "percent" else Decimal(1)
        return CONTEXT.divide(CONTEXT.multiply(scale, Decimal(numerator)), Decimal(denominator))


def _share(field: str) -> Callable[[Measures], Observation]:
    def observe(m: Measures) -> Observation:
        value = m.get(field)
        return None if value is None else (int(bool(value)), 1)

    return observe


def _mean(field: str) -> Callable[[Measures], Observation]:
    def observe(m: Measures) -> Observation:
        value = m.get(field)
        return None if value is None else (int(value), 1)

    return observe


def _answered_within(field: str, limit: int, *, of_answered: bool = False) -> Callable[..., Any]:
    """Share answered within `limit` (hours or days), of every probe or of answered ones."""

    def observe(m: Measures) -> Observation:
        answered = m.get("answered")
        if answered is None or (of_answered and not answered):
            return None
        delay = m.get(field)
        return (int(bool(answered) and delay is not None and delay <= limit), 1)

    return observe


def _network(network: str, inner: Callable[[Measures], Observation]) -> Callable[..., Any]:
    def observe(m: Measures) -> Observation:
        return inner(m) if m.get("network") == network else None

    return observe


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "phone_answered_first_attempt",
        "phone",
        "calls answered at the first attempt (%)",
        "percent",
        _share("answered_first_attempt"),
    ),
    Kpi("phone_rings", "phone", "rings before an answer (mean)", "mean", _mean("rings")),
    Kpi(
        "phone_waiting_seconds",
        "phone",
        "waiting time, seconds (mean)",
        "mean",
        _mean("waiting_seconds"),
    ),
    Kpi("email_answered", "email", "emails answered (%)", "percent", _share("answered")),
    Kpi(
        "email_answered_within_24_hours",
        "email",
        "emails answered within 24 hours (%)",
        "percent",
        _answered_within("reply_delay_hours", 24),
    ),
    Kpi(
        "email_answered_within_5_days",
        "email",
        "emails answered within 5 days (%)",
        "percent",
        _answered_within("reply_delay_hours", 5 * 24),
    ),
    Kpi(
        "email_answered_within_10_days_of_answered",
        "email",
        "answered emails answered within 10 days (%)",
        "percent",
        _answered_within("reply_delay_hours", 10 * 24, of_answered=True),
    ),
    Kpi("mail_answered", "mail", "letters answered (%)", "percent", _share("answered")),
    Kpi(
        "mail_answered_within_15_days",
        "mail",
        "letters answered within 15 days (%)",
        "percent",
        _answered_within("reply_delay_days", 15),
    ),
    Kpi("social_answered", "social", "social messages answered (%)", "percent", _share("answered")),
    Kpi(
        "facebook_answered_within_a_day",
        "social",
        "Facebook messages answered within a day (%)",
        "percent",
        _network("facebook", _answered_within("reply_delay_hours", 24)),
    ),
    Kpi(
        "x_answered",
        "social",
        "X messages answered (%)",
        "percent",
        _network("x", _share("answered")),
    ),
    Kpi(
        "website_rgaa_compliant",
        "website",
        "websites fully RGAA compliant (%)",
        "percent",
        _share("rgaa_compliant"),
    ),
    Kpi(
        "website_satisfaction_synthesis",
        "website",
        "websites publishing a satisfaction survey synthesis (%)",
        "percent",
        _share("satisfaction_synthesis_published"),
    ),
    Kpi(
        "website_navigation_help",
        "website",
        "websites with navigation help: chatbot, FAQ, tutorials (%)",
        "percent",
        _share("navigation_help"),
    ),
    Kpi(
        "website_online_procedures",
        "website",
        "websites with an online procedures section (%)",
        "percent",
        _share("online_procedures"),
    ),
    Kpi(
        "polite_formula",
        "any",
        "replies with a polite formula (%)",
        "percent",
        _share("polite_formula"),
    ),
)
KPI_BY_CODE = {kpi.code: kpi for kpi in KPIS}


KPIS_OF_CHANNEL: dict[str, tuple[Kpi, ...]] = {
    channel: tuple(kpi for kpi in KPIS if kpi.channel in (channel, "any"))
    for channel in [*(c.value for c in Channel), "any"]
}
"""The KPIs a probe of each channel may say something about."""


def tally_kpis(probes: Iterable[tuple[str, Measures]]) -> dict[str, list[int]]:
    """KPI code → [numerator, denominator] over (channel, measures) of probes."""
    tallies: dict[str, list[int]] = {}
    for channel, measures in probes:
        for kpi in KPIS_OF_CHANNEL.get(channel, KPIS_OF_CHANNEL["any"]):
            observation = kpi.observe(measures)
            if observation is None:
                continue
            tally = tallies.get(kpi.code)
            if tally is None:
                tallies[kpi.code] = [observation[0], observation[1]]
            else:
                tally[0] += observation[0]
                tally[1] += observation[1]
    return tallies


def add_tallies(into: dict[str, list[int]], more: Mapping[str, list[int]]) -> None:
    for code, (numerator, denominator) in more.items():
        tally = into.setdefault(code, [0, 0])
        tally[0] += numerator
        tally[1] += denominator
