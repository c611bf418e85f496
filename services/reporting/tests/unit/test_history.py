"""The cited figures of past editions and the French labels (domain.md: "Published figures")."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from baro_contracts.audit_v1 import Channel, Family, Step
from baro_contracts.registration_v1 import Category
from baro_reporting import history
from baro_reporting.history import (
    UNITS,
    cited_figures,
    cited_laureates,
    cited_series,
    labels,
    parse_history,
    parse_labels,
    reference_figures,
)

pytestmark = pytest.mark.unit

D = Decimal

KPI_CODES = (
    "phone_answered_first_attempt",
    "phone_rings",
    "phone_waiting_seconds",
    "email_answered",
    "email_answered_within_24_hours",
    "email_answered_within_5_days",
    "email_answered_within_10_days_of_answered",
    "mail_answered",
    "mail_answered_within_15_days",
    "social_answered",
    "facebook_answered_within_a_day",
    "x_answered",
    "website_rgaa_compliant",
    "website_satisfaction_synthesis",
    "website_navigation_help",
    "website_online_procedures",
)
BASE_CODES = {
    "national",
    "structures",
    "certified",
    "not_certified",
    *(f"channel.{channel.value}" for channel in Channel),
    *(f"category.{category.value}" for category in Category),
    *KPI_CODES,
}


def raw_history() -> dict[str, Any]:
    text = resources.files("baro_reporting").joinpath("data", "history.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def figure(edition: int, code: str) -> Decimal:
    return cited_series(code)[edition].value


# --- what a reader of the syntheses expects -----------------------------------------------


def test_2020_national_score_is_62_cited_from_the_2020_press_release() -> None:
    national = cited_series("national")[2020]
    assert national.value == D("62")
    assert national.unit == "points"
    assert national.source.document == "002_886ef8f096456be8.txt"
    assert national.source.publisher == "AFNOR"
    assert national.source.published_on == "2020-11-12"
    assert figure(2020, "change.national") == D("-6.5")


def test_2020_headline_and_channel_scores() -> None:
    assert figure(2020, "structures") == 321
    assert figure(2020, "certified") == 69
    assert figure(2020, "gap.certified_vs_not_certified") == 8
    channels = {"email": 63, "website": 63, "social": 72, "phone": 81, "mail": 50}
    for channel, score in channels.items():
        assert figure(2020, f"channel.{channel}") == score, channel
    assert figure(2020, "change.channel.email") == -8
    assert figure(2020, "change.channel.website") == -3
    assert figure(2020, "change.channel.mail") == -6
    # "stable" is not a number: no change figure is invented for social and phone
    assert 2020 not in cited_series("change.channel.social")
    assert 2020 not in cited_series("change.channel.phone")


def test_phone_first_attempt_trend_from_2013_to_2023() -> None:
    series = cited_series("phone_answered_first_attempt")
    assert series[2013].value == D("92")
    assert series[2023].value == D("77")
    assert series[2013].source.document == series[2023].source.document
    assert series[2023].source.published_on == "2023-12-04"
    assert {edition: f.value for edition, f in series.items()} == {
        2013: D("92"),
        2021: D("96"),
        2022: D("77"),
        2023: D("77"),
    }
    assert list(series) == sorted(series)
    assert {f.unit for f in series.values()} == {"percent"}


def test_rings_waiting_time_and_other_channel_kpis() -> None:
    assert figure(2021, "phone_rings") == D("2.2")
    assert figure(2022, "phone_rings") == D("5.5")
    assert cited_series("phone_rings")[2022].unit == "rings"
    assert figure(2013, "phone_waiting_seconds") == 16
    assert figure(2023, "phone_waiting_seconds") == 28
    assert cited_series("phone_waiting_seconds")[2023].unit == "seconds"
    assert figure(2013, "mail_answered") == 51
    assert figure(2023, "mail_answered") == 40
    assert figure(2022, "mail_answered_within_15_days") == 40
    assert figure(2022, "email_answered_within_10_days_of_answered") == 55
    assert figure(2023, "facebook_answered_within_a_day") == 82
    assert figure(2023, "x_answered") == 29
    assert figure(2023, "website_rgaa_compliant") == 17
    assert figure(2023, "website_satisfaction_synthesis") == 16
    assert figure(2023, "website_navigation_help") == 27
    assert figure(2022, "website_navigation_help") == 20
    assert figure(2022, "website_online_procedures") == 74
    assert figure(2022, "channel.visit") == 86


def test_an_implied_figure_says_so_in_its_note() -> None:
    within_5_days = cited_series("email_answered_within_5_days")[2023]
    assert within_5_days.value == 50
    assert within_5_days.note is not None
    assert "un e-mail sur deux" in within_5_days.note


def test_published_changes_are_recorded_as_changes_not_derived_scores() -> None:
    assert figure(2022, "change.category.region") == 12
    assert figure(2022, "change.category.france_services") == -5
    assert cited_series("category.region") == {}
    assert 2019 not in cited_series("national")  # 68.5 would be derived: never shipped
    assert cited_series("not_certified") == {}  # 69 - 8 would be derived: never shipped
    for f in cited_figures():
        if f.code.startswith(("change.", "gap.")):
            assert f.unit == "points", f
            assert f.note, f


def test_public_versus_private_reference_figures() -> None:
    by_code = {r.code: r for r in reference_figures()}
    within_24_hours = by_code["email_answered_within_24_hours"]
    assert (within_24_hours.public, within_24_hours.private) == (D("38"), D("85"))
    assert within_24_hours.edition == 2023
    polite = by_code["polite_formula"]
    assert (polite.public, polite.private) == (D("99"), D("91"))
    assert all(r.label_fr and r.unit == "percent" for r in reference_figures())


def test_laureates_by_edition() -> None:
    laureates = cited_laureates()
    assert list(laureates) == [2020, 2022, 2023]
    assert len(laureates[2020]) == 9
    assert len(laureates[2022]) == 7
    assert len(laureates[2023]) == 7
    first = laureates[2020][0]
    assert (first.name, first.category, first.mention) == (
        "Villeurbanne",
        "city_over_50k",
        "numérique",
    )
    assert first.source.document == "002_886ef8f096456be8.txt"
    cannes = laureates[2023][0]
    assert (cannes.name, cannes.category, cannes.department) == ("Cannes", "city_over_50k", "06")
    categories = {c.value for c in Category}
    for edition, group in laureates.items():
        assert all(lau.edition == edition for lau in group)
        assert all(lau.category is None or lau.category in categories for lau in group)
        known = [lau.category for lau in group if lau.category is not None]
        assert len(known) == len(set(known)), f"two laureates of one category in {edition}"


# --- provenance and shape -----------------------------------------------------------------


def test_every_figure_cites_a_named_document() -> None:
    document = raw_history()
    source_ids = set(document["sources"])
    entries = [*document["figures"], *document["laureates"], *document["reference"]]
    assert entries
    for entry in entries:
        assert entry["source"] in source_ids, entry
    for f in cited_figures():
        assert f.source.document.strip(), f
        assert f.source.document.endswith(".txt"), f
        assert f.source.publisher == "AFNOR"


def test_values_are_decimal_strings_never_floats() -> None:
    document = raw_history()
    for entry in document["figures"]:
        assert isinstance(entry["value"], str), entry
    for entry in document["reference"]:
        assert isinstance(entry["public"], str), entry
        assert isinstance(entry["private"], str), entry


def test_figures_are_sorted_unique_and_use_known_codes_and_units() -> None:
    figures = cited_figures()
    keys = [(f.code, f.edition) for f in figures]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert {f.edition for f in figures} <= {2013, 2019, 2020, 2021, 2022, 2023}
    extra = {"structures_since_2012"}
    for f in figures:
        assert f.unit in UNITS, f
        base = f.code.removeprefix("change.")
        assert base in BASE_CODES or base in extra or f.code.startswith("gap."), f.code


def test_series_of_an_unknown_code_is_empty() -> None:
    assert cited_series("no_such_code") == {}


# --- validation on load -------------------------------------------------------------------


def test_validation_rejects_an_unknown_source() -> None:
    document = copy.deepcopy(raw_history())
    document["figures"][0]["source"] = "nowhere"
    with pytest.raises(ValueError, match="unknown source 'nowhere'"):
        parse_history(document)


def test_validation_rejects_a_value_that_is_not_a_decimal() -> None:
    document = copy.deepcopy(raw_history())
    document["figures"][0]["value"] = "about 60"
    with pytest.raises(ValueError, match="not a decimal"):
        parse_history(document)
    document["figures"][0]["value"] = 62.0
    with pytest.raises(ValueError, match="decimal string"):
        parse_history(document)


def test_validation_rejects_a_duplicate_edition_and_code() -> None:
    document = copy.deepcopy(raw_history())
    document["figures"].append(dict(document["figures"][0]))
    first = document["figures"][0]
    with pytest.raises(ValueError, match="duplicate") as caught:
        parse_history(document)
    assert first["code"] in str(caught.value)


def test_validation_rejects_an_unknown_unit() -> None:
    document = copy.deepcopy(raw_history())
    document["figures"][0]["unit"] = "euros"
    with pytest.raises(ValueError, match="unknown unit"):
        parse_history(document)


# --- French labels ------------------------------------------------------------------------


def test_french_labels_of_categories_channels_steps_and_families() -> None:
    french = labels()
    for category in Category:
        assert french.category(category.value) != category.value, category
    for channel in Channel:
        assert french.channel(channel.value) != channel.value, channel
    for step in Step:
        assert french.step(step.value) != step.value, step
    for family in Family:
        assert french.family(family.value) != family.value, family
    assert french.category("city_over_50k") == "Villes de plus de 50 000 habitants"
    assert french.channel("phone") == "Téléphone"
    assert french.step("access") == "Accès"


def test_french_labels_and_units_of_every_kpi() -> None:
    french = labels()
    for code in KPI_CODES:
        assert french.kpi(code) != code, code
        assert french.kpi_unit(code) in {"percent", "rings", "seconds"}, code
    assert french.kpi_unit("phone_rings") == "rings"
    assert french.kpi_unit("phone_waiting_seconds") == "seconds"
    assert french.kpi_unit("website_rgaa_compliant") == "percent"


def test_french_labels_of_the_20_default_determinants() -> None:
    french = labels()
    codes = [f"D{number:02d}" for number in range(1, 21)]
    names = {french.determinant("baro-default", code, fallback="?") for code in codes}
    assert "?" not in names
    assert len(names) == 20


def test_default_referential_determinants_and_families_all_have_french_labels() -> None:
    pytest.importorskip("baro_audit_ingest")
    text = (
        resources.files("baro_audit_ingest")
        .joinpath("data", "default_referential.json")
        .read_text("utf-8")
    )
    referential = json.loads(text)
    french = labels()
    for determinant in referential["determinants"]:
        label = french.determinant(referential["name"], determinant["code"], fallback="")
        assert label, determinant
        assert french.family(determinant["family"]) != determinant["family"], determinant


def test_default_referential_items_all_have_french_labels() -> None:
    pytest.importorskip("baro_audit_ingest")
    text = (
        resources.files("baro_audit_ingest")
        .joinpath("data", "default_referential.json")
        .read_text("utf-8")
    )
    referential = json.loads(text)
    french = labels()
    assert len(referential["items"]) == 133
    for item in referential["items"]:
        label = french.item(referential["name"], item["code"], fallback="")
        assert label, item["code"]
        assert label != item["label"], item["code"]
    assert french.item("baro-default", "UNKNOWN", "fallback") == "fallback"
    assert french.item("another-referential", "PHO-ACC-01", "Findable") == "Findable"


def test_unknown_codes_fall_back_without_raising() -> None:
    french = labels()
    assert french.category("moon_base") == "moon_base"
    assert french.channel("pigeon") == "pigeon"
    assert french.step("nowhere") == "nowhere"
    assert french.kpi("no_kpi") == "no_kpi"
    assert french.family("no_family") == "no_family"
    assert french.kpi_unit("no_kpi") is None
    assert french.determinant("baro-default", "D99", "Custom label") == "Custom label"
    assert french.determinant("another-referential", "D01", "Findable") == "Findable"


def test_labels_validation_rejects_an_empty_label() -> None:
    with pytest.raises(ValueError, match="categories 'region'"):
        parse_labels({"categories": {"region": ""}})


def test_data_files_are_loaded_once() -> None:
    assert labels() is labels()
    assert cited_figures() is cited_figures()
    assert history.cited_sources()
