"""Audit plans: 13 probes in the default mix, spread over the window, reproducible from a seed."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest

from baro_audit_ingest.planning import DEFAULT_AUDITOR_POOL, DEFAULT_CHANNEL_MIX, plan_probes
from baro_contracts.audit_v1 import Channel

pytestmark = pytest.mark.unit

START = date(2027, 4, 1)
END = date(2027, 5, 31)
SEEDS = [f"2027/{n}" for n in range(25)]


def a_site(kind: str = "main", name: str = "Town hall") -> dict[str, Any]:
    return {"site_id": uuid4(), "name": name, "kind": kind}


def plan(
    seed: str = "2027/structure",
    *,
    sites: list[dict[str, Any]] | None = None,
    physical_visit: bool = False,
    start: date = START,
    end: date = END,
    mix: dict[Channel, int] | None = None,
    auditors: tuple[str, ...] | list[str] = DEFAULT_AUDITOR_POOL,
) -> list[dict[str, Any]]:
    return plan_probes(
        seed=seed,
        sites=sites or [a_site()],
        physical_visit=physical_visit,
        window_start=start,
        window_end=end,
        channel_mix=dict(mix or DEFAULT_CHANNEL_MIX),
        auditors=auditors,
    )


def channels(probes: list[dict[str, Any]]) -> Counter[str]:
    return Counter(p["channel"] for p in probes)


# --- the mix ------------------------------------------------------------------------------


def test_the_default_plan_is_13_probes_in_the_barometer_mix() -> None:
    probes = plan()
    assert len(probes) == 13
    assert channels(probes) == {"phone": 4, "email": 3, "mail": 2, "website": 2, "social": 2}


def test_the_visit_option_adds_exactly_one_visit() -> None:
    probes = plan(physical_visit=True)
    assert len(probes) == 14
    assert channels(probes) == {
        "phone": 4,
        "email": 3,
        "mail": 2,
        "website": 2,
        "social": 2,
        "visit": 1,
    }


def test_an_edition_mix_is_followed() -> None:
    mix = {Channel.PHONE: 5, Channel.EMAIL: 2, Channel.MAIL: 2, Channel.WEBSITE: 2}
    probes = plan(mix=mix)
    assert channels(probes) == {"phone": 5, "email": 2, "mail": 2, "website": 2}


def test_slots_are_numbered_from_1_in_date_order() -> None:
    for seed in SEEDS:
        probes = plan(seed, physical_visit=True)
        assert [p["slot"] for p in probes] == list(range(1, 15))
        dates = [p["planned_on"] for p in probes]
        assert dates == sorted(dates)


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize("physical_visit", [False, True])
def test_every_probe_falls_inside_the_window(physical_visit: bool) -> None:
    for seed in SEEDS:
        for probe in plan(seed, physical_visit=physical_visit):
            assert START <= probe["planned_on"] <= END, (seed, probe)


@pytest.mark.parametrize("physical_visit", [False, True])
def test_probes_spread_one_in_each_equal_stretch_of_the_window(physical_visit: bool) -> None:
    """Cut the 61 days into as many equal stretches as probes: each stretch holds one probe,
    so a structure is not audited 13 times in the same fortnight."""
    days = (END - START).days + 1
    for seed in SEEDS:
        probes = plan(seed, physical_visit=physical_visit)
        count = len(probes)
        bounds = [START + timedelta(days=k * days // count) for k in range(count + 1)]
        per_stretch = [
            sum(1 for p in probes if bounds[k] <= p["planned_on"] < bounds[k + 1])
            for k in range(count)
        ]
        assert per_stretch == [1] * count, (seed, [p["planned_on"] for p in probes])


def test_the_probes_cover_the_whole_window() -> None:
    days = (END - START).days + 1
    stretch = timedelta(days=-(-days // 13))
    for seed in SEEDS:
        probes = plan(seed)
        assert probes[0]["planned_on"] < START + stretch
        assert probes[-1]["planned_on"] > END - stretch


@pytest.mark.parametrize("length", [1, 5, 12])
def test_a_window_shorter_than_13_days_still_plans_every_probe_inside_it(length: int) -> None:
    end = START + timedelta(days=length - 1)
    probes = plan(end=end, physical_visit=True)
    assert len(probes) == 14
    assert all(START <= p["planned_on"] <= end for p in probes)
    assert len({p["planned_on"] for p in probes}) == length


# --- reproducible -------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_plan() -> None:
    sites = [a_site(), a_site("annex", "Library")]
    first = plan("2027/abc", sites=sites, physical_visit=True)
    again = plan("2027/abc", sites=list(sites), physical_visit=True)
    assert first == again


def test_another_seed_gives_another_plan() -> None:
    sites = [a_site(), a_site("annex", "Library")]
    plans = [plan(seed, sites=sites) for seed in SEEDS[:10]]
    orders = {tuple(p["channel"] for p in probes) for probes in plans}
    dates = {tuple(p["planned_on"] for p in probes) for probes in plans}
    assert len(orders) == 10
    assert len(dates) > 1


# --- sites and auditors -------------------------------------------------------------------


def test_website_and_social_probes_go_to_the_main_site() -> None:
    annex, main, library = a_site("annex", "Annex"), a_site("main"), a_site("annex", "Library")
    for seed in SEEDS:
        probes = plan(seed, sites=[annex, main, library])
        wide = [p for p in probes if p["channel"] in {"website", "social"}]
        assert len(wide) == 4
        assert {p["site_id"] for p in wide} == {main["site_id"]}


def test_the_other_channels_rotate_over_every_site() -> None:
    sites = [a_site(), a_site("annex", "Annex"), a_site("annex", "Library")]
    for seed in SEEDS:
        probes = plan(seed, sites=sites)
        rotating = Counter(
            p["site_id"] for p in probes if p["channel"] in {"phone", "email", "mail"}
        )
        # 9 phone, email and mail probes over 3 sites: 3 each.
        assert rotating == {s["site_id"]: 3 for s in sites}, seed


def test_a_single_site_structure_has_every_probe_on_that_site() -> None:
    only = a_site()
    assert {p["site_id"] for p in plan(sites=[only], physical_visit=True)} == {only["site_id"]}


def test_each_probe_of_a_structure_has_a_different_auditor_from_the_pool() -> None:
    for seed in SEEDS:
        probes = plan(seed, physical_visit=True)
        auditors = [p["auditor_id"] for p in probes]
        assert len(set(auditors)) == 14
        assert set(auditors) <= set(DEFAULT_AUDITOR_POOL)


def test_a_small_pool_shares_the_probes_evenly_between_its_auditors() -> None:
    pool = ["MC-A", "MC-B", "MC-C", "MC-D", "MC-E"]
    probes = plan(auditors=pool)
    per_auditor = Counter(p["auditor_id"] for p in probes)
    assert set(per_auditor) == set(pool)
    assert max(per_auditor.values()) == 3  # 13 probes over 5 auditors: at most ceil(13/5)


def test_the_auditors_change_from_one_structure_to_another() -> None:
    first = [p["auditor_id"] for p in plan("2027/first")]
    second = [p["auditor_id"] for p in plan("2027/second")]
    assert first != second
