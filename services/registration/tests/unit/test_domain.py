"""The rules of registration, on the aggregates and on the in-memory application (no I/O)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from baro_chassis.testing import FakeClock
from baro_contracts.registration_v1 import (
    Category,
    FreePlaceOutcome,
    Participation,
    RegistrationStatus,
    StructureKind,
)
from baro_registration.application import RegistrationApplication
from baro_registration.contact_sealing import Sealer, new_data_key
from baro_registration.domain import (
    Edition,
    FreePlaceCandidate,
    InvalidRegistration,
    NotFound,
    Registration,
    RegistrationConflict,
    Structure,
    category_of,
    siret_problem,
)
from registration_builders import make_siret

pytestmark = pytest.mark.unit

T0 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
# 21690266800013 in full-width digits (U+FF10..U+FF19): Unicode digits, not ASCII ones
FULL_WIDTH = "".join(chr(0xFF10 + int(c)) for c in "21690266800013")


# --- builders -----------------------------------------------------------------------------


def open_edition(**overrides: Any) -> Edition:
    fields: dict[str, Any] = {
        "year": 2027,
        "registration_deadline": date(2027, 3, 15),
        "audit_window_start": date(2027, 4, 1),
        "audit_window_end": date(2027, 5, 31),
        "free_places": 2,
    }
    fields.update(overrides)
    return Edition.open(**fields)


def site(number: int = 1) -> dict[str, Any]:
    return {
        "name": f"Site {number}",
        "kind": "main",
        "address": f"{number} place de la Mairie, 69000 Lyon",
        "contact_points": {"phone": "04 78 00 00 00"},
    }


def registration_fields(number: int = 1, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "year": 2027,
        "siret": make_siret(number),
        "name": f"Commune n°{number}",
        "kind": StructureKind.COMMUNE,
        "population": 12_000,
        "department": "69",
        "contacts": {
            "referrer": {"name": "Jeanne Martin", "email": "j@example.fr", "phone": "0478000000"}
        },
        "sites": [site()],
        "participation": Participation.FREE,
        "options": {"physical_visit": False, "social_listening": False, "oral_restitution": False},
        "certifications": [],
        "registered_at": T0,
    }
    fields.update(overrides)
    return fields


def register(number: int = 1, **overrides: Any) -> Registration:
    registration_id = uuid4()
    return Registration.register(
        registration_id=registration_id,
        seal=Sealer(new_data_key(), registration_id),
        **registration_fields(number, **overrides),
    )


def allocation_for(registration: Registration, outcome: FreePlaceOutcome) -> Any:
    edition = open_edition(free_places=1 if outcome is FreePlaceOutcome.GRANTED else 0)
    candidate = FreePlaceCandidate(registration.id, registration.registered_at, True)
    (allocation,) = edition.close(T0, [candidate], paid_in_panel=0)
    assert allocation.outcome is outcome
    return allocation


def declined(**overrides: Any) -> Registration:
    registration = register(**overrides)
    registration.decide_free_place(allocation_for(registration, FreePlaceOutcome.DECLINED))
    return registration


def version_of(aggregate: Any) -> int:
    return int(aggregate.version)


# --- SIRET --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "siret",
    [
        "21690266800013",  # a real commune SIRET, Luhn
        make_siret(1),
        make_siret(987_654_321),
        "35600000000001",  # La Poste establishment: digit sum 15, not Luhn
        "35600000000048",  # La Poste head office: Luhn (digit sum 26)
    ],
)
def test_valid_sirets_are_accepted(siret: str) -> None:
    assert siret_problem(siret) is None


@pytest.mark.parametrize(
    "siret",
    ["", "2169026680001", "216902668000130", "2169026680001A", "21690 266800013", FULL_WIDTH],
)
def test_a_siret_is_exactly_14_ascii_digits(siret: str) -> None:
    problem = siret_problem(siret)
    assert problem is not None
    assert "14 digits" in problem


@pytest.mark.parametrize("siret", ["21690266800014", "12690266800013", "21690266800031"])
def test_a_mistyped_siret_fails_the_luhn_checksum(siret: str) -> None:
    problem = siret_problem(siret)
    assert problem is not None
    assert "Luhn" in problem


def test_la_poste_establishments_use_the_digit_sum_rule_not_luhn() -> None:
    # Luhn-valid, but its digit sum (19) is not a multiple of 5.
    problem = siret_problem("35600000000014")
    assert problem is not None
    assert "divisible by 5" in problem
    # Luhn-invalid, but its digit sum (15) is a multiple of 5.
    assert siret_problem("35600000000001") is None


# --- categories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("population", "category"),
    [
        (0, Category.CITY_UNDER_20K),
        (19_999, Category.CITY_UNDER_20K),
        (20_000, Category.CITY_20K_50K),
        (49_999, Category.CITY_20K_50K),
        (50_000, Category.CITY_OVER_50K),
        (2_000_000, Category.CITY_OVER_50K),
    ],
)
def test_a_city_category_comes_from_its_population(population: int, category: Category) -> None:
    assert category_of(StructureKind.COMMUNE, population) is category


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        (StructureKind.INTERCOMMUNALITY, Category.INTERCOMMUNALITY),
        (StructureKind.DEPARTMENT, Category.DEPARTMENT),
        (StructureKind.REGION, Category.REGION),
        (StructureKind.FRANCE_SERVICES, Category.FRANCE_SERVICES),
        (StructureKind.SOCIAL_SERVICE, Category.SOCIAL_SERVICES),
        (StructureKind.TOURIST_OFFICE, Category.DEVELOPMENT_SERVICES),
        (StructureKind.DEVELOPMENT_SERVICE, Category.DEVELOPMENT_SERVICES),
        (StructureKind.LIBRARY, Category.OTHER_PUBLIC),
        (StructureKind.HOSPITAL, Category.OTHER_PUBLIC),
        (StructureKind.OTHER_PUBLIC, Category.OTHER_PUBLIC),
    ],
)
def test_a_non_city_category_comes_from_its_kind_whatever_its_population(
    kind: StructureKind, category: Category
) -> None:
    assert category_of(kind, 120_000) is category
    assert category_of(kind, 1_000) is category
    assert category_of(kind, None) is category


def test_every_structure_kind_has_a_category() -> None:
    for kind in StructureKind:
        assert isinstance(category_of(kind, 10_000), Category)


# --- registering --------------------------------------------------------------------------


def test_a_registration_records_what_the_structure_declared() -> None:
    registration = register(
        name="  Commune de Lyon  ",
        population=520_000,
        sites=[site(1), site(2)],
        participation=Participation.PAID,
        options={"physical_visit": True, "social_listening": True, "oral_restitution": True},
        certifications=["iso_9001", "qualivilles", "iso_9001"],
    )
    assert registration.name == "Commune de Lyon"
    assert registration.category == Category.CITY_OVER_50K.value
    assert registration.status == RegistrationStatus.IN_PANEL.value
    assert [s["name"] for s in registration.sites] == ["Site 1", "Site 2"]
    site_ids = [UUID(s["site_id"]) for s in registration.sites]
    assert len(set(site_ids)) == 2
    assert registration.certifications == ["iso_9001", "qualivilles"]
    assert registration.options["physical_visit"] is True
    assert registration.registered_at == T0
    assert registration.free_place is None
    assert registration.order_form is None


def test_a_free_registration_waits_for_a_free_place() -> None:
    registration = register(participation=Participation.FREE)
    assert registration.status == RegistrationStatus.AWAITING_FREE_PLACE.value
    assert not registration.in_panel


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"siret": "1234"}, "siret"),
        ({"siret": "21690266800014"}, "siret"),
        ({"name": "   "}, "name"),
        ({"kind": StructureKind.COMMUNE, "population": None}, "population"),
        ({"kind": StructureKind.INTERCOMMUNALITY, "population": None}, "population"),
        ({"kind": StructureKind.DEPARTMENT, "population": None}, "population"),
        ({"kind": StructureKind.REGION, "population": None}, "population"),
        ({"population": -1}, "population"),
        ({"contacts": {}}, "contacts"),
        ({"contacts": {"referrer": None, "decision_maker": None}}, "contacts"),
        ({"sites": []}, "sites"),
        ({"sites": [{**site(), "name": " "}]}, "sites.0.name"),
        ({"sites": [site(1), {**site(2), "address": ""}]}, "sites.1.address"),
        (
            {"participation": Participation.FREE, "options": {"physical_visit": True}},
            "options.physical_visit",
        ),
        (
            {"participation": Participation.FREE, "options": {"oral_restitution": True}},
            "options.oral_restitution",
        ),
    ],
)
def test_each_registration_refusal_names_its_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRegistration) as refused:
        register(**overrides)
    assert refused.value.field == field
    assert refused.value.message


def test_a_decision_maker_alone_is_enough_and_non_local_authorities_need_no_population() -> None:
    registration = register(
        kind=StructureKind.LIBRARY,
        population=None,
        contacts={"decision_maker": {"name": "A. Maire", "email": "m@x.fr", "phone": "0102030405"}},
    )
    assert registration.category == Category.OTHER_PUBLIC.value
    assert registration.population is None


def test_paid_participation_may_ask_for_a_physical_visit() -> None:
    registration = register(
        participation=Participation.PAID, options={"physical_visit": True, "oral_restitution": True}
    )
    assert registration.options == {"physical_visit": True, "oral_restitution": True}


def test_a_site_added_later_gets_its_own_id_and_a_bad_one_is_refused() -> None:
    registration = register()
    recorded = registration.add_site(site(2))
    assert [s["name"] for s in registration.sites] == ["Site 1", "Site 2"]
    assert recorded["site_id"] != registration.sites[0]["site_id"]
    version = version_of(registration)
    with pytest.raises(InvalidRegistration) as refused:
        registration.add_site({**site(3), "address": "  "})
    assert refused.value.field == "site.address"
    assert len(registration.sites) == 2
    assert version_of(registration) == version


# --- editions: opening and deadline -------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"year": 2011}, "year"),
        ({"year": 2101}, "year"),
        ({"audit_window_end": date(2027, 4, 1)}, "audit_window_end"),
        ({"audit_window_end": date(2027, 3, 31)}, "audit_window_end"),
        ({"registration_deadline": date(2027, 4, 1)}, "registration_deadline"),
        ({"registration_deadline": date(2027, 4, 2)}, "registration_deadline"),
        ({"free_places": -1}, "free_places"),
    ],
)
def test_an_edition_with_inconsistent_dates_or_places_is_refused(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRegistration) as refused:
        open_edition(**overrides)
    assert refused.value.field == field


def test_an_edition_opens_with_nothing_registered() -> None:
    edition = open_edition(year=2012, registration_deadline=date(2027, 3, 31), free_places=0)
    assert edition.year == 2012
    assert edition.closed_at is None
    assert open_edition(year=2100).year == 2100


def test_the_edition_id_is_derived_from_its_year() -> None:
    assert Edition.create_id(2027) == Edition.create_id(2027)
    assert Edition.create_id(2027) != Edition.create_id(2028)
    assert open_edition(year=2027).id == Edition.create_id(2027)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2027, 2, 1, 9, 0, tzinfo=UTC),
        datetime(2027, 3, 14, 23, 0, tzinfo=UTC),  # 15 March, 00:00 in Paris
        datetime(2027, 3, 15, 12, 0, tzinfo=UTC),
        datetime(2027, 3, 15, 22, 59, 59, 999_999, tzinfo=UTC),  # 23:59:59.999999 in Paris (CET)
    ],
)
def test_registration_is_open_until_the_end_of_the_deadline_day_in_paris(at: datetime) -> None:
    edition = open_edition()
    edition.ensure_open(at)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2027, 3, 15, 23, 0, tzinfo=UTC),  # 16 March, 00:00 in Paris
        datetime(2027, 3, 16, 9, 0, tzinfo=UTC),
        datetime(2027, 12, 1, tzinfo=UTC),
    ],
)
def test_registration_after_the_deadline_is_refused_and_records_nothing(at: datetime) -> None:
    edition = open_edition()
    before = version_of(edition)
    with pytest.raises(RegistrationConflict) as refused:
        edition.ensure_open(at)
    assert "deadline" in refused.value.message
    assert "2027-03-15" in refused.value.message
    assert version_of(edition) == before


def test_the_deadline_follows_paris_summer_time() -> None:
    edition = open_edition(
        registration_deadline=date(2027, 6, 30),
        audit_window_start=date(2027, 9, 1),
        audit_window_end=date(2027, 10, 31),
    )
    edition.ensure_open(datetime(2027, 6, 30, 21, 59, 59, tzinfo=UTC))  # 23:59:59 CEST
    with pytest.raises(RegistrationConflict):
        edition.ensure_open(datetime(2027, 6, 30, 22, 0, tzinfo=UTC))  # 1 July 00:00 CEST


def test_a_closed_edition_refuses_registrations_even_before_its_deadline() -> None:
    edition = open_edition()
    edition.close(T0, [], paid_in_panel=0)
    with pytest.raises(RegistrationConflict) as refused:
        edition.ensure_open(T0 + timedelta(days=1))
    assert "closed" in refused.value.message


# --- close and free places ----------------------------------------------------------------


def candidate(hours: int, *, never: bool) -> FreePlaceCandidate:
    return FreePlaceCandidate(uuid4(), T0 + timedelta(hours=hours), never)


def test_free_places_go_to_never_participated_first_then_by_registration_time() -> None:
    old_first = candidate(0, never=False)
    new_late = candidate(3, never=True)
    new_early = candidate(2, never=True)
    old_second = candidate(1, never=False)
    edition = open_edition(free_places=2)
    allocations = edition.close(T0, [old_first, new_late, new_early, old_second], paid_in_panel=5)
    assert [a.registration_id for a in allocations] == [
        new_early.id,
        new_late.id,
        old_first.id,
        old_second.id,
    ]
    assert [a.rank for a in allocations] == [1, 2, 3, 4]
    assert [a.outcome for a in allocations] == [
        FreePlaceOutcome.GRANTED,
        FreePlaceOutcome.GRANTED,
        FreePlaceOutcome.DECLINED,
        FreePlaceOutcome.DECLINED,
    ]
    assert [a.never_participated for a in allocations] == [True, True, False, False]
    assert (edition.granted_count, edition.declined_count) == (2, 2)
    assert edition.panel_size == 5 + 2
    assert edition.closed_at == T0


@pytest.mark.parametrize(("free_places", "candidates"), [(0, 4), (1, 4), (3, 4), (4, 4), (6, 4)])
def test_exactly_the_free_places_are_granted(free_places: int, candidates: int) -> None:
    edition = open_edition(free_places=free_places)
    pool = [candidate(i, never=i % 2 == 0) for i in range(candidates)]
    allocations = edition.close(T0, pool, paid_in_panel=1)
    granted = sum(1 for a in allocations if a.granted)
    assert granted == min(free_places, candidates)
    assert edition.granted_count == granted
    assert edition.declined_count == candidates - granted
    assert {a.registration_id for a in allocations} == {c.id for c in pool}
    assert edition.panel_size == 1 + granted


def test_zero_free_places_declines_every_free_candidate() -> None:
    edition = open_edition(free_places=0)
    pool = [candidate(i, never=True) for i in range(3)]
    allocations = edition.close(T0, pool, paid_in_panel=2)
    assert all(a.outcome is FreePlaceOutcome.DECLINED for a in allocations)
    assert (edition.granted_count, edition.declined_count) == (0, 3)
    assert edition.panel_size == 2


def test_ties_are_broken_the_same_way_whatever_the_input_order() -> None:
    same_time = [FreePlaceCandidate(uuid4(), T0, True) for _ in range(4)]
    outcomes = set()
    for order in itertools.permutations(same_time):
        edition = open_edition(free_places=2)
        allocations = edition.close(T0, list(order), paid_in_panel=0)
        assert sum(1 for a in allocations if a.granted) == 2
        outcomes.add(tuple(a.registration_id for a in allocations))
    assert len(outcomes) == 1


def test_an_earlier_registration_wins_a_tie_on_never_participated() -> None:
    late = FreePlaceCandidate(UUID(int=0), T0 + timedelta(seconds=1), True)
    early = FreePlaceCandidate(UUID(int=2**128 - 1), T0, True)
    edition = open_edition(free_places=1)
    allocations = edition.close(T0, [late, early], paid_in_panel=0)
    assert allocations[0].registration_id == early.id
    assert allocations[0].granted


def test_closing_twice_is_refused_and_keeps_the_first_outcome() -> None:
    edition = open_edition(free_places=1)
    first = candidate(0, never=True)
    edition.close(T0, [first], paid_in_panel=0)
    version = version_of(edition)
    with pytest.raises(RegistrationConflict) as refused:
        edition.close(T0 + timedelta(days=1), [candidate(1, never=True)], paid_in_panel=3)
    assert "already closed" in refused.value.message
    assert edition.granted_count == 1
    assert edition.closed_at == T0
    assert edition.panel_size == 1
    assert version_of(edition) == version


# --- after the close: switch to paid, order forms -----------------------------------------


def test_a_granted_registration_joins_the_panel_and_a_declined_one_does_not() -> None:
    granted = register(1)
    granted.decide_free_place(allocation_for(granted, FreePlaceOutcome.GRANTED))
    assert granted.status == RegistrationStatus.IN_PANEL.value
    assert granted.free_place == {"outcome": "granted", "rank": 1, "never_participated": True}
    refused = declined()
    assert refused.status == RegistrationStatus.DECLINED.value
    assert refused.free_place is not None
    assert refused.free_place["outcome"] == "declined"


def test_a_paid_registration_is_not_allocated_a_free_place() -> None:
    registration = register(participation=Participation.PAID)
    with pytest.raises(RegistrationConflict):
        registration.decide_free_place(allocation_for(register(2), FreePlaceOutcome.DECLINED))
    assert registration.status == RegistrationStatus.IN_PANEL.value
    assert registration.free_place is None


def test_a_declined_registration_may_switch_to_paid_and_keeps_its_options() -> None:
    registration = declined(options={"physical_visit": False, "social_listening": True})
    registration.switch_to_paid({"physical_visit": True})
    assert registration.status == RegistrationStatus.IN_PANEL.value
    assert registration.participation == Participation.PAID.value
    assert registration.options == {"physical_visit": True, "social_listening": True}


def paid() -> Registration:
    return register(participation=Participation.PAID)


def awaiting() -> Registration:
    return register(participation=Participation.FREE)


def granted() -> Registration:
    registration = register()
    registration.decide_free_place(allocation_for(registration, FreePlaceOutcome.GRANTED))
    return registration


def switched() -> Registration:
    registration = declined()
    registration.switch_to_paid(None)
    return registration


@pytest.mark.parametrize("make", [paid, awaiting, granted, switched])
def test_only_a_declined_registration_may_switch_to_paid(make: Any) -> None:
    registration = make()
    before = (registration.status, registration.participation, version_of(registration))
    with pytest.raises(RegistrationConflict) as refused:
        registration.switch_to_paid({"physical_visit": True})
    assert "declined" in refused.value.message
    after = (registration.status, registration.participation, version_of(registration))
    assert after == before
    assert not registration.options.get("physical_visit")


@pytest.mark.parametrize("make", [paid, switched])
def test_an_order_form_is_signed_once(make: Any) -> None:
    registration = make()
    registration.sign_order_form("  Jeanne Martin  ", T0)
    assert registration.order_form == {"signed_by": "Jeanne Martin", "signed_at": T0}
    version = version_of(registration)
    with pytest.raises(RegistrationConflict) as refused:
        registration.sign_order_form("Someone Else", T0 + timedelta(days=1))
    assert "already signed by Jeanne Martin" in refused.value.message
    assert registration.order_form == {"signed_by": "Jeanne Martin", "signed_at": T0}
    assert version_of(registration) == version


def test_a_declined_registration_cannot_sign_an_order_form() -> None:
    registration = declined()
    with pytest.raises(RegistrationConflict) as refused:
        registration.sign_order_form("Jeanne Martin", T0)
    assert "switch to paid" in refused.value.message
    assert registration.order_form is None


def test_an_order_form_signature_says_who_signed() -> None:
    registration = paid()
    with pytest.raises(InvalidRegistration) as refused:
        registration.sign_order_form("   ", T0)
    assert refused.value.field == "signed_by"
    assert registration.order_form is None


# --- structures ---------------------------------------------------------------------------


def test_a_structure_registers_once_per_edition() -> None:
    siret = make_siret(7)
    structure = Structure(siret=siret)
    assert structure.id == Structure.create_id(siret)
    first, other_year = uuid4(), uuid4()
    structure.enrol(2027, first)
    with pytest.raises(RegistrationConflict) as refused:
        structure.enrol(2027, uuid4())
    assert refused.value.field == "siret"
    assert siret in refused.value.message
    assert structure.registration_in(2027) == first
    structure.enrol(2028, other_year)
    assert structure.registration_in(2028) == other_year
    assert structure.registration_in(2026) is None
    assert structure.earlier_registrations(2028) == [first]
    assert structure.earlier_registrations(2027) == []


# --- the in-memory application: history across editions -----------------------------------


def edition_dates(year: int) -> dict[str, Any]:
    return {
        "year": year,
        "registration_deadline": date(year, 3, 15),
        "audit_window_start": date(year, 4, 1),
        "audit_window_end": date(year, 5, 31),
    }


def app_register(app: RegistrationApplication, year: int, number: int, **kw: Any) -> Registration:
    fields = registration_fields(number, **kw)
    del fields["year"], fields["registered_at"]
    return app.register(year, **fields)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 2, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def app(clock: FakeClock) -> RegistrationApplication:
    return RegistrationApplication(clock=clock)


def test_a_structure_in_the_panel_of_last_year_loses_priority_to_a_newcomer(
    app: RegistrationApplication, clock: FakeClock
) -> None:
    app.open_edition(**edition_dates(2026), free_places=1)
    veteran_2026 = app_register(app, 2026, 1)
    app.close_registration(2026)
    assert app.registration(2026, veteran_2026.id).status == "in_panel"

    clock.now = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    app.open_edition(**edition_dates(2027), free_places=1)
    veteran = app_register(app, 2027, 1)
    clock.advance(days=10)
    newcomer = app_register(app, 2027, 2)
    _, decided = app.close_registration(2027)

    assert [r.id for r in decided] == [newcomer.id, veteran.id]
    assert app.registration(2027, newcomer.id).status == "in_panel"
    assert app.registration(2027, newcomer.id).free_place == {
        "outcome": "granted",
        "rank": 1,
        "never_participated": True,
    }
    assert app.registration(2027, veteran.id).status == "declined"
    assert app.registration(2027, veteran.id).free_place == {
        "outcome": "declined",
        "rank": 2,
        "never_participated": False,
    }


def test_a_paid_participation_last_year_also_counts_as_having_taken_part(
    app: RegistrationApplication, clock: FakeClock
) -> None:
    app.open_edition(**edition_dates(2026), free_places=0)
    app_register(app, 2026, 1, participation=Participation.PAID)
    clock.now = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    app.open_edition(**edition_dates(2027), free_places=1)
    veteran = app_register(app, 2027, 1)
    clock.advance(hours=1)
    newcomer = app_register(app, 2027, 2)
    app.close_registration(2027)
    assert app.registration(2027, newcomer.id).status == "in_panel"
    assert app.registration(2027, veteran.id).status == "declined"


def test_a_structure_only_declined_last_year_still_counts_as_never_participated(
    app: RegistrationApplication, clock: FakeClock
) -> None:
    app.open_edition(**edition_dates(2026), free_places=0)
    declined_2026 = app_register(app, 2026, 1)
    app.close_registration(2026)
    assert app.registration(2026, declined_2026.id).status == "declined"

    clock.now = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
    app.open_edition(**edition_dates(2027), free_places=1)
    returning = app_register(app, 2027, 1)
    clock.advance(days=10)
    newcomer = app_register(app, 2027, 2)
    _, decided = app.close_registration(2027)

    assert [r.id for r in decided] == [returning.id, newcomer.id]
    assert app.registration(2027, returning.id).free_place == {
        "outcome": "granted",
        "rank": 1,
        "never_participated": True,
    }
    assert app.registration(2027, newcomer.id).status == "declined"


def test_the_application_refuses_a_second_registration_of_a_siret_in_one_edition(
    app: RegistrationApplication,
) -> None:
    app.open_edition(**edition_dates(2026), free_places=1)
    app.open_edition(**edition_dates(2027), free_places=1)
    first = app_register(app, 2026, 1)
    with pytest.raises(RegistrationConflict) as refused:
        app_register(app, 2026, 1, name="Another name")
    assert refused.value.field == "siret"
    assert [r.id for r in app.registrations(2026)] == [first.id]
    assert app.registration(2026, first.id).name == "Commune n°1"
    other_year = app_register(app, 2027, 1)
    assert [r.id for r in app.registrations(2027)] == [other_year.id]


def test_the_application_refuses_late_registrations_and_unknown_editions(
    app: RegistrationApplication, clock: FakeClock
) -> None:
    app.open_edition(**edition_dates(2026), free_places=1)
    app_register(app, 2026, 1)
    clock.now = datetime(2026, 3, 15, 23, 0, tzinfo=UTC)
    with pytest.raises(RegistrationConflict):
        app_register(app, 2026, 2)
    assert len(app.registrations(2026)) == 1
    with pytest.raises(NotFound):
        app_register(app, 2030, 3)
    with pytest.raises(RegistrationConflict) as duplicate:
        app.open_edition(**edition_dates(2026), free_places=9)
    assert duplicate.value.field == "year"
    assert app.edition(2026).free_places == 1


def test_an_edition_with_many_registrations_keeps_its_rules(
    app: RegistrationApplication, clock: FakeClock
) -> None:
    # more events than the edition's snapshotting interval
    app.open_edition(**edition_dates(2026), free_places=3)
    made = []
    for number in range(1, 61):
        made.append(app_register(app, 2026, number))
        clock.advance(minutes=1)
    edition = app.edition(2026)
    assert app.registered(edition) == 60
    assert [r.id for r in app.registrations(2026)] == [r.id for r in made]
    assert edition.registration_deadline == date(2026, 3, 15)
    assert app_register(app, 2026, 1).id == made[0].id  # a retry
    with pytest.raises(RegistrationConflict):
        app_register(app, 2026, 1, name="Another name")
    clock.now = datetime(2026, 3, 15, 23, 0, tzinfo=UTC)
    with pytest.raises(RegistrationConflict):
        app_register(app, 2026, 61)
    closed, decided = app.close_registration(2026)
    assert [r.id for r in decided] == [r.id for r in made]
    assert [r.free_place["outcome"] for r in decided if r.free_place] == ["granted"] * 3 + [
        "declined"
    ] * 57
    assert (closed.granted_count, app.edition(2026).declined_count) == (3, 57)


# --- what makes a retry -------------------------------------------------------------------


def test_two_registrations_declaring_the_same_are_one_declaration() -> None:
    first = register(name="Commune n°1 ", certifications=["iso_9001", "qualivilles"])
    again = register(name="Commune n°1", certifications=["qualivilles", "iso_9001"])
    assert first.id != again.id
    assert first.declaration() == again.declaration()  # normalised; ids and site ids aside
    assert register(name="Another").declaration() != first.declaration()


def test_a_site_with_the_content_of_a_recorded_one_is_found_again() -> None:
    registration = register()
    added = registration.add_site(site(2))
    assert registration.site_like(site(2)) == added
    assert registration.site_like({**site(2), "name": "Other"}) is None


def test_the_same_signer_again_is_a_retry_another_is_not() -> None:
    registration = register(participation=Participation.PAID)
    assert not registration.signed_by("Jeanne Martin")
    registration.sign_order_form(" Jeanne Martin ", T0)
    assert registration.signed_by("Jeanne Martin")
    assert not registration.signed_by("Someone Else")


def test_only_a_switched_registration_with_the_same_options_is_a_retry_of_the_switch() -> None:
    registration = declined()
    assert not registration.switched_to_paid_with(None)
    registration.switch_to_paid({"physical_visit": True})
    assert registration.switched_to_paid_with({"physical_visit": True})
    assert registration.switched_to_paid_with(None)
    assert not registration.switched_to_paid_with({"physical_visit": False})
    assert not register(participation=Participation.PAID).switched_to_paid_with(None)
