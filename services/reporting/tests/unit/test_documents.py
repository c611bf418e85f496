"""What the documents say, built from an edition's facts by the same code the live service
and the replay run."""

from __future__ import annotations

import pytest

from baro_reporting import history
from baro_reporting.documents import canonical_bytes, free_input, paid_input, synthesis_input
from baro_reporting.facts import Editorial
from reporting_builders import context_of, facts_of, small_edition

pytestmark = pytest.mark.unit


def test_the_synthesis_gives_the_published_figures_and_cites_past_editions() -> None:
    edition = small_edition(2027)
    synthesis = synthesis_input(context_of(edition))
    document = edition.document()
    assert synthesis["fingerprint"] == facts_of(edition).publication.fingerprint
    assert synthesis["national"]["score"] == document["summary"]["national"]["score"]
    assert synthesis["national"]["display"] == "60,0"
    # No earlier edition held: the change is since the last cited national figure (2020: 62)
    change = synthesis["national"]["change"]
    assert change["since"] == 2020
    assert change["previous"]["kind"] == "cited"
    assert change["previous"]["display"] == "62,0"
    assert change["display"] == "\u22122,0"
    cited = {s["id"] for s in synthesis["sources"]}
    assert change["previous"]["source"] in cited
    assert synthesis["panel"]["structures"] == 4
    assert synthesis["panel"]["items"] == 9  # the referential's
    laureates = {c["code"]: [w["name"] for w in c["laureates"]] for c in synthesis["categories"]}
    assert laureates == {"city_over_50k": ["Villeurbanne"], "city_20k_50k": ["Bron"]}
    phone = next(c for c in synthesis["channels"] if c["code"] == "phone")
    assert phone["display"] == "72,5"
    assert phone["label"] == "Téléphone"
    # Trend: cited points from the history file, then this edition's computed one.
    assert [p["kind"] for p in phone["trend"]][-1] == "computed"
    assert {p["kind"] for p in phone["trend"][:-1]} == {"cited"}


def test_an_edition_held_by_the_system_is_computed_and_preferred_to_a_citation() -> None:
    sirets = {"Villeurbanne": "21690266800013", "Lyon": "21690123100011"}
    earlier = small_edition(2026, sirets)
    edition = small_edition(2027, sirets)
    synthesis = synthesis_input(context_of(edition, earlier=[earlier]))
    change = synthesis["national"]["change"]
    assert change["since"] == 2026
    assert change["previous"]["kind"] == "computed"
    # The structure's own history is joined by SIRET: its registration ids differ.
    villeurbanne = edition.structures[0]
    assert villeurbanne.registration_id != earlier.structures[0].registration_id
    paid = paid_input(context_of(edition, earlier=[earlier]), villeurbanne.registration_id)
    assert [row["edition"] for row in paid["history"]] == [2026, 2027]
    # Vénissieux's SIRET differs between the two editions: no earlier result for it.
    other = paid_input(
        context_of(edition, earlier=[earlier]), edition.structures[3].registration_id
    )
    assert [row["edition"] for row in other["history"]] == [2027]


def test_the_paid_report_ranks_compares_and_names_strengths_by_the_fixed_rule() -> None:
    edition = small_edition()
    lyon = edition.structures[1]
    paid = paid_input(context_of(edition), lyon.registration_id)
    assert paid["summary"]["display"] == "60,0"
    assert paid["summary"]["category_display"] == "65,0"  # Villeurbanne 70, Lyon 60
    assert (paid["summary"]["rank"], paid["summary"]["ranked"]) == (2, 2)
    assert paid["summary"]["laureate"] is False
    assert [c["code"] for c in paid["channels"]] == ["phone", "email", "website"]
    phone = paid["channels"][0]
    assert (phone["display"], phone["category_display"], phone["national_display"]) == (
        "90,0",
        "85,0",
        "72,5",
    )
    # Lyon is above its category's mean on phone items, below on email and website ones.
    assert {s["code"] for s in paid["strengths"]} <= {"D04", "D05", "D06"}
    assert all(s["gap_display"].startswith("+") for s in paid["strengths"])
    assert all(i["gap_display"].startswith("\u2212") for i in paid["improvements"])
    assert len(paid["items"]) == 9
    # French labels where the default referential's item is known, its own label otherwise
    labels = history.labels()
    assert [i["label"] for i in paid["items"]] == [
        labels.item("baro-default", i["code"], f"Item {i['code']}") for i in paid["items"]
    ]
    assert paid["items"][0]["label"] != f"Item {paid['items'][0]['code']}"
    assert paid["sites"] == [
        {
            "name": "Hôtel de ville",
            "kind": "main",
            "kind_label": "accueil principal",
            "address": "1 place de la Mairie",
        }
    ]


def test_an_incomplete_structure_is_not_ranked_and_the_free_result_stays_short() -> None:
    edition = small_edition()
    venissieux = edition.structures[3]
    paid = paid_input(context_of(edition), venissieux.registration_id)
    assert paid["summary"]["rank"] is None
    assert paid["summary"]["complete"] is False
    free = free_input(context_of(edition), edition.structures[2].registration_id)
    assert set(free) >= {"structure", "summary", "channels", "fingerprint"}
    assert "determinants" not in free
    assert "items" not in free


def test_editorial_content_goes_into_the_synthesis_with_its_version() -> None:
    edition = small_edition()
    bron = edition.structures[2]
    editorial = Editorial(
        edition.year,
        3,
        {
            "laureates": [
                {
                    "registration_id": bron.registration_id,
                    "mention": "numérique",
                    "remarkable_point": "Tous les courriels ont une réponse en 24 h.",
                }
            ],
            "initiatives": [{"title": "Un tchat", "text": "Tenu par les agents.", "link": None}],
            "references": [
                {
                    "code": "email_answered",
                    "label": "Courriels répondus",
                    "public": "60",
                    "private": "80",
                    "unit": "percent",
                    "source": "Étude X, 2027",
                }
            ],
        },
    )
    synthesis = synthesis_input(context_of(edition, editorial=editorial))
    assert synthesis["editorial_version"] == 3
    winner = next(c for c in synthesis["categories"] if c["code"] == "city_20k_50k")
    assert winner["laureates"][0]["mention"] == "numérique"
    assert synthesis["initiatives"][0]["title"] == "Un tchat"
    entered = next(r for r in synthesis["public_private"] if r["code"] == "email_answered")
    assert entered["kind"] == "entered"
    assert entered["computed_public_display"] == "66,7"


def test_the_same_facts_give_the_same_input_bytes() -> None:
    edition = small_edition()
    rid = edition.structures[0].registration_id
    assert canonical_bytes(paid_input(context_of(edition), rid)) == canonical_bytes(
        paid_input(context_of(edition), rid)
    )
