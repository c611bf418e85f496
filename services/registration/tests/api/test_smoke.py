from __future__ import annotations

from registration_builders import registration_body


def test_register_and_read_back(client, edition, tokens):
    response = client.post("/editions/2027/registrations", json=registration_body(), headers=tokens.frontend)
    assert response.status_code == 201, response.text
    rid = response.json()["registration_id"]
    got = client.get(f"/editions/2027/registrations/{rid}", headers=tokens.admin)
    assert got.status_code == 200
    assert got.json()["category"] == "city_under_20k"
