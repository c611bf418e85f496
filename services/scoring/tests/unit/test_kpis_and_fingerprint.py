"""The national KPIs from the probes' measures (domain.md: "Audits", "Published figures"),
and the published results' fingerprint."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal, localcontext
from typing import Any

import pytest

from baro_contracts.audit_v1 import ProbeRecorded
from baro_contracts.base import ContractEvent
from baro_scoring.document import (
    ResultsText,
    canonical_json,
    fingerprint,
    freeze,
    kpi_documents,
    line_of,
    results_document,
    structure_document,
)
from baro_scoring.facts import EditionFacts
from baro_scoring.figures import edition_figures
from baro_scoring.kpis import KPI_BY_CODE, KPIS, tally_kpis
from baro_scoring.results import edition_results
from baro_scoring.rules import METHOD
from scoring_builders import YEAR, Events

pytestmark = pytest.mark.unit

D = Decimal


def kpi_values(probes: list[tuple[str, dict[str, Any]]]) -> dict[str, Decimal | None]:
    """KPI code → its value over these (channel, measures) probes."""
    return {
        code: KPI_BY_CODE[code].value(numerator, denominator)
        for code, (numerator, denominator) in tally_kpis(probes).items()
    }


# --- KPIs, family by family -------------------------------------------------------------


def test_phone_answered_at_the_first_attempt_and_rings_and_waiting() -> None:
    values = kpi_values(
        [
            ("phone", {"answered_first_attempt": True, "rings": 2, "waiting_seconds": 10}),
            ("phone", {"answered_first_attempt": False, "rings": 5, "waiting_seconds": 30}),
            ("phone", {"answered_first_attempt": True, "rings": 8}),
            ("phone", {}),  # nothing measured: in no KPI
        ]
    )
    # first attempt 2 of 3 = 200/3 %; rings (2 + 5 + 8) / 3 = 5; waiting (10 + 30) / 2 = 20
    assert values["phone_answered_first_attempt"] == D("66.66666666666666666666666666666667")
    assert values["phone_rings"] == D(5)
    assert values["phone_waiting_seconds"] == D(20)


def test_the_rings_mean_is_not_rounded_to_whole_rings() -> None:
    values = kpi_values([("phone", {"rings": 2}), ("phone", {"rings": 3})])
    assert values["phone_rings"] == D("2.5")  # (2 + 3) / 2


def test_email_answered_and_answered_within_24_hours_5_days_and_10_days() -> None:
    values = kpi_values(
        [
            ("email", {"answered": True, "reply_delay_hours": 24}),  # within 24 h, inclusive
            ("email", {"answered": True, "reply_delay_hours": 120}),  # within 5 days = 120 h
            ("email", {"answered": True, "reply_delay_hours": 240}),  # within 10 days = 240 h
            ("email", {"answered": True, "reply_delay_hours": 241}),
            ("email", {"answered": False}),
        ]
    )
    # answered 4/5 = 80 %; within 24 h 1/5 = 20 %; within 5 days 2/5 = 40 % (of every email)
    assert values["email_answered"] == D(80)
    assert values["email_answered_within_24_hours"] == D(20)
    assert values["email_answered_within_5_days"] == D(40)
    # within 10 days, of the answered ones only: 3/4 = 75 %
    assert values["email_answered_within_10_days_of_answered"] == D(75)


def test_mail_answered_within_15_days() -> None:
    values = kpi_values(
        [
            ("mail", {"answered": True, "reply_delay_days": 15}),  # inclusive
            ("mail", {"answered": True, "reply_delay_days": 16}),
            ("mail", {"answered": True, "reply_delay_days": 1}),
            ("mail", {"answered": False}),
        ]
    )
    # answered 3/4 = 75 %; within 15 days 2/4 = 50 %
    assert values["mail_answered"] == D(75)
    assert values["mail_answered_within_15_days"] == D(50)


def test_facebook_answered_within_a_day_and_x_answered() -> None:
    values = kpi_values(
        [
            ("social", {"network": "facebook", "answered": True, "reply_delay_hours": 5}),
            ("social", {"network": "facebook", "answered": True, "reply_delay_hours": 30}),
            ("social", {"network": "facebook", "answered": False}),
            ("social", {"network": "x", "answered": True, "reply_delay_hours": 100}),
            ("social", {"network": "x", "answered": False}),
        ]
    )
    # Facebook within a day: 1/3 = 100/3 %; X answered: 1/2 = 50 %; all social: 3/5 = 60 %
    assert values["facebook_answered_within_a_day"] == D("33.33333333333333333333333333333333")
    assert values["x_answered"] == D(50)
    assert values["social_answered"] == D(60)


def test_website_shares() -> None:
    def site(rgaa: bool, synthesis: bool, help_: bool, procedures: bool) -> tuple[str, Any]:
        return (
            "website",
            {
                "rgaa_compliant": rgaa,
                "satisfaction_synthesis_published": synthesis,
                "navigation_help": help_,
                "online_procedures": procedures,
            },
        )

    values = kpi_values(
        [
            site(True, False, True, True),
            site(False, False, True, True),
            site(False, False, False, False),
            site(False, False, False, True),
        ]
    )
    # RGAA 1/4 = 25 %; synthesis 0/4 = 0 % (a measured 0, not "no data");
    # navigation help 2/4 = 50 %; online procedures 3/4 = 75 %
    assert values["website_rgaa_compliant"] == D(25)
    assert values["website_satisfaction_synthesis"] == D(0)
    assert values["website_navigation_help"] == D(50)
    assert values["website_online_procedures"] == D(75)


def test_the_polite_formula_counts_replies_on_every_channel() -> None:
    values = kpi_values(
        [
            ("email", {"polite_formula": True}),
            ("email", {"polite_formula": False}),
            ("mail", {"polite_formula": True}),
            ("phone", {"polite_formula": True}),
            ("social", {"polite_formula": True}),
        ]
    )
    assert values["polite_formula"] == D(80)  # 4/5


def test_a_measure_counts_only_for_the_kpis_of_its_probes_channel() -> None:
    tallies = tally_kpis([("phone", {"answered": True, "reply_delay_hours": 2})])
    # an "answered" on a phone probe says nothing about emails, letters or social messages
    assert not any(
        code.startswith(("email", "mail", "social", "x_", "facebook")) for code in tallies
    )


def test_kpis_without_observation_have_no_value() -> None:
    tallies = tally_kpis([("phone", {}), ("website", {}), ("social", {"network": "x"})])
    assert tallies == {}
    assert all(kpi.value(0, 0) is None for kpi in KPIS)
    # no Facebook message at all: no Facebook KPI, even with X ones
    assert "facebook_answered_within_a_day" not in tally_kpis(
        [("social", {"network": "x", "answered": True})]
    )


def test_the_national_kpis_pool_the_counts_of_every_structure() -> None:
    e = Events()
    lyon, dax = e.structure("Lyon"), e.structure("Dax")
    facts = EditionFacts(YEAR).add_all(
        [
            e.referential(),
            lyon,
            dax,
            e.probe(lyon, "phone", measures={"answered_first_attempt": True, "rings": 1}),
            e.probe(dax, "phone", measures={"answered_first_attempt": True, "rings": 2}, slot=1),
            e.probe(dax, "phone", measures={"answered_first_attempt": False, "rings": 6}, slot=2),
            e.probe(dax, "phone", measures={"answered_first_attempt": False}, slot=3),
        ]
    )
    summary = edition_figures(
        YEAR, [line_of(structure_document(result)) for result in edition_results(facts)]
    )
    documents = kpi_documents(summary)
    # first attempt: (1 + 1) / (1 + 3) = 50 % (the mean of 100 % and 33.3 % would be 66.7 %)
    assert documents["phone_answered_first_attempt"]["value"] == "50"
    assert (
        documents["phone_answered_first_attempt"]["numerator"],
        documents["phone_answered_first_attempt"]["denominator"],
    ) == (2, 4)
    # rings (1 + 2 + 6) / 3 = 3
    assert documents["phone_rings"]["value"] == "3"
    assert "email_answered" not in documents


# --- the fingerprint ----------------------------------------------------------------------


def edition_events() -> tuple[Events, list[ContractEvent]]:
    e = Events()
    lyon = e.structure("Lyon", certified=True)
    dax = e.structure("Dax")
    phone = e.probe(
        lyon,
        "phone",
        {"PHO-ACC-01": False, "PHO-ACC-02": 4, "PHO-PRO-01": "partial"},
        measures={"answered_first_attempt": True, "rings": 4},
    )
    events: list[ContractEvent] = [
        e.referential(),
        lyon,
        dax,
        e.free_place_granted(dax),
        e.plan(lyon, "phone", "email"),
        e.plan(dax, "email"),
        phone,
        e.probe(lyon, "email", {"EMA-INF-01": True, "EMA-PRO-01": True}, slot=2),
        e.probe(dax, "email", {"EMA-INF-01": True, "EMA-PRO-01": False}),
        e.correction(phone, answers={"PHO-ACC-01": True}, measures={"rings": 2}),
    ]
    return e, events


def published(events: list[ContractEvent]) -> dict[str, Any]:
    """The results document of an edition as publication freezes it."""
    facts = EditionFacts(YEAR).add_all(events)
    documents = [structure_document(result) for result in edition_results(facts)]
    summary = edition_figures(YEAR, map(line_of, documents))
    return results_document(YEAR, documents, summary)


def test_the_fingerprint_is_a_sha256_in_hex() -> None:
    _, events = edition_events()
    document = published(events)
    value = fingerprint(document)
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    # anyone can recompute it: SHA-256 of the sorted-key, space-free UTF-8 JSON
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert value == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert canonical_json(document).encode() == text.encode("utf-8")


def test_the_results_text_built_piece_by_piece_is_the_canonical_serialisation() -> None:
    # publication and replay build the text from each structure's own text: it must be
    # byte for byte what serialising the whole document gives, or fingerprints would drift
    e, events = edition_events()
    town = e.structure(name='Ville d\'Été "Ω"')
    events += [town, e.plan(town, "phone"), e.probe(town, "phone", {"PHO-ACC-01": "n/a"})]
    facts = EditionFacts(YEAR).add_all(events)
    results = list(edition_results(facts))
    documents = [structure_document(result) for result in results]
    summary = edition_figures(YEAR, map(line_of, documents))
    text = ResultsText(YEAR, keep=True)
    for document in documents:
        text.add(canonical_json(document))
    made = text.finish(summary)
    whole = results_document(YEAR, documents, summary)
    assert text.text == canonical_json(whole)
    assert made == fingerprint(whole) == freeze(facts).fingerprint
    assert freeze(facts).text == canonical_json(whole)


def test_the_results_document_names_the_edition_and_the_scoring_method() -> None:
    _, events = edition_events()
    facts = EditionFacts(YEAR).add_all(events)
    documents = [structure_document(result) for result in edition_results(facts)]
    summary = edition_figures(YEAR, map(line_of, documents))
    document = results_document(YEAR, documents[::-1], summary)
    assert document["edition"] == YEAR
    assert document["method"] == METHOD == "baro-scoring-1"
    # structures in registration id order, whatever order they are given in
    ids = [structure["registration_id"] for structure in document["structures"]]
    assert len(ids) == 2
    assert ids == sorted(ids)


def test_the_fingerprint_is_the_same_whatever_the_order_of_the_events() -> None:
    _, events = edition_events()
    assert fingerprint(published(list(reversed(events)))) == fingerprint(published(events))
    shuffled = events[1::2] + events[0::2]
    assert fingerprint(published(shuffled)) == fingerprint(published(events))


def test_the_fingerprint_is_the_same_with_duplicated_events() -> None:
    _, events = edition_events()
    assert fingerprint(published(events + events[::-1])) == fingerprint(published(events))


LYON_EMAIL = 7  # the position of Lyon's email probe in edition_events()


def test_the_fingerprint_changes_when_one_answer_changes() -> None:
    _, events = edition_events()
    email = events[LYON_EMAIL]
    assert isinstance(email, ProbeRecorded)
    assert email.answers == {"EMA-INF-01": True, "EMA-PRO-01": True}
    same, changed = list(events), list(events)
    same[LYON_EMAIL] = email.model_copy()
    changed[LYON_EMAIL] = email.model_copy(
        update={"answers": {"EMA-INF-01": False, "EMA-PRO-01": True}}
    )
    assert fingerprint(published(same)) == fingerprint(published(events))
    assert fingerprint(published(changed)) != fingerprint(published(events))


def test_the_fingerprint_changes_with_a_correction() -> None:
    e, events = edition_events()
    email = events[LYON_EMAIL]
    assert isinstance(email, ProbeRecorded)
    corrected = [*events, e.correction(email, answers={"EMA-PRO-01": False})]
    assert fingerprint(published(corrected)) != fingerprint(published(events))


def test_the_fingerprint_does_not_depend_on_the_processs_decimal_context() -> None:
    # A replay must reproduce the published fingerprint exactly, whatever decimal context the
    # replaying process runs with: here Lyon's phone score is 200/3 (34 digits), so its
    # global (200/3 + 100) / 2 is where an ambient precision would show.
    e = Events()
    lyon = e.structure("Lyon")
    events: list[ContractEvent] = [
        e.referential(),
        lyon,
        e.probe(lyon, "phone", {"PHO-ACC-01": False, "PHO-ACC-02": 2}),
        e.probe(lyon, "website", {"WEB-ACC-01": True}, slot=2),
    ]
    default = fingerprint(published(events))
    with localcontext() as context:
        context.prec = 60
        wider = fingerprint(published(events))
    assert wider == default


PINNED_FINGERPRINT = "40775a99ba67bfcde377c18b92595d0be398be3c3f6cda03809a7914f26fd6fe"
"""edition_events()'s fingerprint under baro-scoring-1, as the scoring of commit 124932c
computed it: whatever scoring becomes, these facts keep this fingerprint."""


def test_a_known_edition_keeps_its_baro_scoring_1_fingerprint() -> None:
    _, events = edition_events()
    assert fingerprint(published(events)) == PINNED_FINGERPRINT
    assert freeze(EditionFacts(YEAR).add_all(events)).fingerprint == PINNED_FINGERPRINT
