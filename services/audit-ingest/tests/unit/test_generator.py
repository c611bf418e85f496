"""The campaign generator: deterministic for a seed, every category, rates near the
published figures, and probes that the service accepts as they are."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, timedelta

import pytest

from baro_audit_ingest.generator import (
    KIND_LABELS,
    figures_for,
    probes_for_plan,
    structure_name,
    structures,
)
from baro_audit_ingest.planning import DEFAULT_AUDITOR_POOL, DEFAULT_CHANNEL_MIX, plan_probes
from baro_audit_ingest.referential import default_referential, measure_problems
from baro_contracts.audit_v1 import Channel, Measures
from baro_contracts.registration_v1 import StructureKind
from baro_registration.domain import siret_problem

pytestmark = pytest.mark.unit
REFERENTIAL = default_referential()


def a_plan(registration_id: str) -> dict[str, object]:
    site_id = uuid.uuid5(uuid.NAMESPACE_URL, registration_id)
    probes = plan_probes(
        seed=f"2023/{registration_id}",
        sites=[{"site_id": site_id, "kind": "main"}],
        physical_visit=True,
        window_start=date(2023, 4, 1),
        window_end=date(2023, 5, 31),
        channel_mix=DEFAULT_CHANNEL_MIX,
        auditors=DEFAULT_AUDITOR_POOL,
    )
    return {
        "registration_id": registration_id,
        "probes": [
            {**p, "site_id": str(p["site_id"]), "planned_on": p["planned_on"].isoformat()}
            for p in probes
        ],
    }


def test_structures_cover_every_category_with_valid_sirets_and_repeat_for_a_seed() -> None:
    bodies = structures(40, seed=3, year=2027)
    assert bodies == structures(40, seed=3, year=2027)
    assert bodies != structures(40, seed=4, year=2027)
    assert {b["kind"] for b in bodies} >= {
        "commune",
        "intercommunality",
        "department",
        "region",
        "france_services",
        "social_service",
        "tourist_office",
        "other_public",
    }
    assert all(siret_problem(b["siret"]) is None for b in bodies)
    assert len({b["siret"] for b in bodies}) == 40
    populations = [b["population"] for b in bodies if b["kind"] == "commune"]
    assert min(populations) < 20_000
    assert max(populations) >= 50_000


def test_probes_follow_the_plan_are_valid_and_repeat_for_a_seed() -> None:
    plan = a_plan("5a7c3a52-0000-4000-8000-000000000001")
    probes = probes_for_plan(plan=plan, referential=REFERENTIAL, certified=False, seed=9, year=2023)
    assert probes == probes_for_plan(
        plan=plan, referential=REFERENTIAL, certified=False, seed=9, year=2023
    )
    assert [p["channel"] for p in probes] == [s["channel"] for s in plan["probes"]]  # type: ignore[index]
    for probe, slot in zip(probes, plan["probes"], strict=True):  # type: ignore[call-overload]
        channel = Channel(probe["channel"])
        assert probe["auditor_id"] == slot["auditor_id"]
        assert probe["performed_at"][:10] in {
            slot["planned_on"],
            (date.fromisoformat(slot["planned_on"]) - timedelta(days=1)).isoformat(),
        }
        assert REFERENTIAL.answer_problems(channel, probe["answers"]) == []
        assert measure_problems(channel, Measures.model_validate(probe["measures"])) == []


def test_answer_rates_follow_the_editions_published_figures() -> None:
    measures: dict[str, list[dict[str, object]]] = {c.value: [] for c in Channel}
    for n in range(400):
        for probe in probes_for_plan(
            plan=a_plan(f"5a7c3a52-0000-4000-8000-{n:012d}"),
            referential=REFERENTIAL,
            certified=False,
            seed=1,
            year=2023,
        ):
            measures[probe["channel"]].append(probe["measures"])
    figures = figures_for(2023)

    def share(channel: str, predicate) -> float:
        rows = measures[channel]
        return sum(1 for m in rows if predicate(m)) / len(rows)

    assert share("phone", lambda m: m["answered_first_attempt"]) == pytest.approx(
        figures.phone_first_attempt, abs=0.05
    )
    assert share("mail", lambda m: m["answered"] and m["reply_delay_days"] <= 15) == pytest.approx(
        figures.mail_within_15_days, abs=0.05
    )
    assert share("website", lambda m: m["rgaa_compliant"]) == pytest.approx(
        figures.website_rgaa, abs=0.05
    )
    assert share("website", lambda m: m["online_procedures"]) == pytest.approx(
        figures.website_online_procedures, abs=0.05
    )
    facebook = [m for m in measures["social"] if m["network"] == "facebook"]
    within_a_day = sum(1 for m in facebook if m["answered"] and m["reply_delay_hours"] <= 24) / len(
        facebook
    )
    assert within_a_day == pytest.approx(figures.facebook_within_a_day, abs=0.06)
    assert (
        Counter(m["network"] for m in measures["social"])["facebook"]
        > Counter(m["network"] for m in measures["social"])["x"]
    )


def test_generated_structures_are_named_in_french_as_the_results_portal_shows_them() -> None:
    assert set(KIND_LABELS) == {kind.value for kind in StructureKind}
    assert structure_name("tourist_office", "Pau", 62) == "Office de tourisme de Pau n°62"
    assert structure_name("department", "Angers", 81) == "Département d'Angers n°81"
    assert structure_name("region", "Épinal", 3) == "Région d'Épinal n°3"
    bodies = structures(60, seed=7, year=2027)
    assert all(body["name"].startswith(KIND_LABELS[body["kind"]] + " ") for body in bodies)
    names = [body["name"] for body in bodies]
    assert not [name for name in names if " de A" in name or " de É" in name]
