"""The committed JSON Schema and AsyncAPI documents match the models; subjects are stable."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml

from baro_contracts import registration_v1 as v1
from baro_contracts.base import REGISTRATION_HEADER
from baro_contracts.catalog import ALL_EVENTS, event_class
from baro_contracts.generate import CONTRACTS_DIR, documents, drifted
from baro_contracts.streams import STREAMS


def test_committed_documents_match_the_code() -> None:
    assert drifted() == [], "run `make contracts` and commit the result"


def test_drift_is_detected_when_a_document_is_edited(tmp_path) -> None:
    for path, text in documents().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert drifted(tmp_path) == []
    schema = tmp_path / "schemas/registration.v1/structure_registered.json"
    schema.write_text(schema.read_text().replace('"siret"', '"siren"'))
    assert drifted(tmp_path) == ["schemas/registration.v1/structure_registered.json"]


def test_asyncapi_lists_every_event_on_its_stream() -> None:
    document = yaml.safe_load((CONTRACTS_DIR / "asyncapi.yaml").read_text())
    addresses = {c["address"]: c["x-jetstream-stream"] for c in document["channels"].values()}
    for cls in ALL_EVENTS:
        address = f"{cls.service}.v{cls.version}.{{edition}}.{cls.name}"
        assert addresses[address] == STREAMS[cls.service].name


def test_subjects_carry_service_version_edition_and_name() -> None:
    event = v1.EditionOpened(
        event_id="registration:1",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        edition=2025,
        registration_deadline=date(2025, 3, 15),
        audit_window_start=date(2025, 4, 1),
        audit_window_end=date(2025, 5, 31),
        free_places=50,
    )
    assert event.subject == "registration.v1.2025.edition_opened"
    assert event_class(event.event_type) is v1.EditionOpened
    assert v1.EditionOpened.model_validate_json(event.model_dump_json()) == event


def test_unknown_fields_are_refused_so_typos_do_not_pass_silently() -> None:
    with pytest.raises(ValueError, match="extra"):
        v1.OrderFormSigned.model_validate(
            {
                "event_id": "registration:9",
                "occurred_at": "2025-01-01T00:00:00Z",
                "edition": 2025,
                "registration_id": "5c0f7a4e-6d3b-4b8e-9a61-2f1c0e9d7b42",
                "signed_by": "X",
                "signed_at": "2025-01-02T00:00:00Z",
                "signd_by": "typo",
            }
        )


def test_a_message_is_published_with_the_headers_asyncapi_documents() -> None:
    document = yaml.safe_load((CONTRACTS_DIR / "asyncapi.yaml").read_text())
    opened = v1.EditionOpened(
        event_id="registration:1",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        edition=2025,
        registration_deadline=date(2025, 3, 15),
        audit_window_start=date(2025, 4, 1),
        audit_window_end=date(2025, 5, 31),
        free_places=50,
    )
    granted = v1.FreePlaceDecided(
        event_id="registration:2",
        occurred_at=datetime(2025, 3, 16, tzinfo=UTC),
        edition=2025,
        registration_id="9e0b2c4e-8f4a-4a43-9a57-3c1f1f0a9b11",
        outcome="granted",
        rank=1,
        never_participated=True,
        status="in_panel",
    )
    assert granted.headers()[REGISTRATION_HEADER] == "9e0b2c4e-8f4a-4a43-9a57-3c1f1f0a9b11"
    assert REGISTRATION_HEADER not in opened.headers()
    for event in (opened, granted):
        message = document["components"]["messages"][event.type_name().replace(".", "_")]
        assert set(event.headers()) <= set(message["headers"]["properties"])
