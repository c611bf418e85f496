"""Who sees what: a structure only its own scores, free participants the synthetic view,
laureates and KPIs public only once published."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from baro_chassis.auth import Role
from baro_chassis.settings import Settings
from baro_chassis.testing import Tokens
from baro_scoring.projections import LIVE_SCHEMA
from scoring_builders import Events, campaign, publish_now, scores_when

pytestmark = pytest.mark.integration


@pytest.fixture
def loaded(client: TestClient, events: Events, nats_url: str, tokens: Tokens) -> list:
    published, structures = campaign(events)
    publish_now(nats_url, *published)
    for structure in structures:
        scores_when(client, tokens.admin, structure.registration_id, probes=2)
    return structures


def test_a_structure_token_sees_its_own_scores_only(
    client: TestClient, loaded: list, tokens: Tokens
) -> None:
    lyon, brest, _ = loaded
    own = client.get(
        f"/editions/2027/scores/{lyon.registration_id}",
        headers=tokens.structure(lyon.registration_id),
    )
    assert own.status_code == 200
    assert own.json()["name"] == "Lyon"
    other = client.get(
        f"/editions/2027/scores/{brest.registration_id}",
        headers=tokens.structure(lyon.registration_id),
    )
    assert other.status_code == 403
    assert "another registration" in other.json()["message"]
    for path in ("/editions/2027/rankings", "/editions/2027/scores"):
        refused = client.get(path, headers=tokens.structure(lyon.registration_id))
        assert refused.status_code == 403, path
    assert client.get(f"/editions/2027/scores/{lyon.registration_id}").status_code == 401


def test_paid_participants_get_everything_and_free_ones_the_synthetic_view(
    client: TestClient, loaded: list, tokens: Tokens
) -> None:
    lyon, _, vire = loaded
    paid = client.get(
        f"/editions/2027/scores/{lyon.registration_id}",
        headers=tokens.structure(lyon.registration_id),
    ).json()
    assert paid["detail"] == "full"
    # Exactly these keys: the response models add none and drop none (null ones included).
    shared = {
        "edition",
        "registration_id",
        "name",
        "category",
        "participation",
        "published",
        "detail",
        "global",
        "channels",
        "peers",
    }
    full_only = {"certified", "probes", "steps", "determinants", "items", "kpis"}
    assert paid.keys() == shared | full_only
    assert paid["peers"].keys() == {"category", "category_mean", "national_mean", "rank", "ranked"}
    assert paid["determinants"]["D01"].keys() == {"label", "score", "exact", "answers"}
    assert paid["steps"]["access"].keys() == {"score", "exact", "answers"}
    assert paid["peers"]["rank"] == 1
    assert paid["peers"]["ranked"] == 2

    free = client.get(
        f"/editions/2027/scores/{vire.registration_id}",
        headers=tokens.structure(vire.registration_id),
    ).json()
    assert free["detail"] == "synthetic"
    assert free.keys() == shared | {"note"}
    assert free["note"].startswith("free participation gives channel averages")
    assert free["peers"].keys() == {"category", "category_mean", "national_mean"}
    # Its channel averages, each beside its category's and the nation's.
    phone = free["channels"]["phone"]
    assert phone["exact"] == "50"  # rings 9 → 0: (1 + 2*0 + 1) / (1 + 2 + 1)
    assert phone["category_mean"]["exact"] == "50"
    assert phone["national_mean"]["exact"] == "75"  # Lyon 100, Brest (1 + 2*0.5 + 1) / 4 = 75
    assert free["peers"]["national_mean"]["structures"] == 3

    # AFNOR staff see a free participant's full detail.
    staff = client.get(
        f"/editions/2027/scores/{vire.registration_id}", headers=tokens.headers(Role.REPLAY_AUDITOR)
    ).json()
    assert staff["detail"] == "full"


def test_laureates_and_kpis_are_public_only_once_published(
    client: TestClient, loaded: list, tokens: Tokens
) -> None:
    lyon = loaded[0]
    for path in ("/editions/2027/laureates", "/editions/2027/kpis"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=tokens.structure(lyon.registration_id)).status_code == 403
        assert client.get(path, headers=tokens.headers(Role.REPLAY_AUDITOR)).status_code == 200

    refused = client.post("/editions/2027/publish", headers=tokens.headers(Role.REPLAY_AUDITOR))
    assert refused.status_code == 403
    published = client.post("/editions/2027/publish", headers=tokens.admin)
    assert published.status_code == 201, published.text
    # The same request again (the admin did not hear the answer): the same publication.
    again = client.post("/editions/2027/publish", headers=tokens.admin)
    assert (again.status_code, again.json()) == (201, published.json())

    laureates = client.get("/editions/2027/laureates")
    assert laureates.status_code == 200
    names = {(entry["category"], entry["name"]) for entry in laureates.json()["laureates"]}
    assert names == {("city_over_50k", "Lyon"), ("city_under_20k", "Vire")}
    kpis = client.get("/editions/2027/kpis").json()
    assert kpis["published"] is True
    assert kpis["kpis"]["phone_rings"]["exact"] == "5"  # (2 + 4 + 9) / 3
    assert kpis["kpis"]["email_answered"]["value"] == 100.0
    # Rankings and other structures' detail stay staff-only after publication.
    assert client.get("/editions/2027/rankings").status_code == 401


def test_unknown_edition_and_structure_are_404_with_the_reason(
    client: TestClient, loaded: list, tokens: Tokens
) -> None:
    response = client.get("/editions/2031/kpis", headers=tokens.admin)
    assert response.status_code == 404
    assert "no event of edition 2031" in response.json()["message"]
    missing = client.get(
        "/editions/2027/scores/00000000-0000-0000-0000-000000000000", headers=tokens.admin
    )
    assert missing.status_code == 404
    assert "no score" in missing.json()["message"]
    bad = client.get("/editions/2027/rankings?category=villages", headers=tokens.admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "category"


def test_a_publication_whose_read_model_commit_was_lost_is_completed_by_the_retry(
    client: TestClient, loaded: list, tokens: Tokens, scoring_settings: Settings
) -> None:
    published = client.post("/editions/2027/publish", headers=tokens.admin)
    assert published.status_code == 201, published.text
    # As if the connection dropped at the read model's commit, after the event was saved.
    with psycopg.connect(scoring_settings.database_url, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{LIVE_SCHEMA}".publications WHERE edition = 2027')
    assert client.get("/editions/2027/publication").status_code == 404
    retried = client.post("/editions/2027/publish", headers=tokens.admin)
    assert (retried.status_code, retried.json()) == (201, published.json())
    record = client.get("/editions/2027/publication")
    assert record.status_code == 200, record.text
    assert record.json()["fingerprint"] == published.json()["fingerprint"]
