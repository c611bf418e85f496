"""AFNOR finance's API on a real PostgreSQL: quotes appear from registrations, are adjusted
and issued; order forms as JSON and PDF; who may see what."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from baro_chassis.testing import Tokens
from baro_contracts import registration_v1 as reg
from billing_builders import Feed, order_form_signed, registered, site

pytestmark = pytest.mark.integration


def pdf_text(data: bytes) -> str:
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())


def only_quote(client: TestClient, tokens: Tokens) -> dict[str, object]:
    response = client.get("/editions/2025/quotes", headers=tokens.finance)
    assert response.status_code == 200, response.text
    quotes = response.json()["quotes"]
    assert len(quotes) == 1
    return quotes[0]


def test_a_paid_registration_quote_is_issued_and_its_order_form_printed(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    event = registered("Mairie de Dax", population=20_000, restitution=True)
    feed(event, event)  # delivered twice: one quote
    summary = only_quote(client, tokens)
    assert summary["status"] == "draft"
    assert summary["can_issue"] is True
    assert summary["totals"] == {"ht_cents": 205_000, "vat_cents": 41_000, "ttc_cents": 246_000}

    issued = client.post(f"/quotes/{summary['quote_id']}/issue", headers=tokens.finance)
    assert issued.status_code == 200, issued.text
    assert issued.json()["number"] == "BC-2025-000001"

    form = client.get("/order-forms/BC-2025-000001", headers=tokens.finance).json()
    assert form["status"] == "issued"
    assert form["buyer"]["siret"] == "21400088800017"
    pdf = client.get("/order-forms/BC-2025-000001/pdf", headers=tokens.finance)
    assert pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content)
    for expected in (
        "BC-2025-000001",
        "Mairie de Dax",
        "SIRET : 21400088800017",
        "2 050,00 €",  # HT
        "410,00 €",  # VAT
        "2 460,00 €",  # TTC
        "Signature et cachet",
    ):
        assert expected in text
    same = client.get(
        "/order-forms/BC-2025-000001", headers={**tokens.finance, "Accept": "application/pdf"}
    )
    assert same.content == pdf.content

    feed(order_form_signed(event))
    assert client.get("/order-forms/BC-2025-000001", headers=tokens.finance).json()["status"] == (
        "signed"
    )
    # the structure reads its own order form to sign it, not another's
    own = tokens.structure(event.registration_id)
    assert client.get("/order-forms/BC-2025-000001", headers=own).status_code == 200
    other = tokens.structure(registered().registration_id)
    assert client.get("/order-forms/BC-2025-000001", headers=other).status_code == 403


def test_a_multi_site_draft_is_adjusted_then_issued(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    feed(registered(sites=[site(), site("Médiathèque", reg.SiteKind.ANNEX)], restitution=True))
    quote = only_quote(client, tokens)
    assert quote["needs_review"] is True
    assert quote["can_issue"] is False
    detail = client.get(f"/quotes/{quote['quote_id']}", headers=tokens.finance).json()
    custom = next(i for i, x in enumerate(detail["lines"]) if x["kind"] == "custom")
    refused = client.post(f"/quotes/{quote['quote_id']}/issue", headers=tokens.finance)
    assert refused.status_code == 409
    assert "must price first" in refused.json()["message"]

    priced = client.post(
        f"/quotes/{quote['quote_id']}/adjustments",
        headers=tokens.finance,
        json={
            "kind": "price_line",
            "line_index": custom,
            "unit_cents": 120_000,
            "reason": "2 days",
        },
    )
    assert priced.status_code == 200, priced.text
    discounted = client.post(
        f"/quotes/{quote['quote_id']}/adjustments",
        headers=tokens.finance,
        json={"kind": "discount", "amount_cents": 24_000, "reason": "multi-site discount"},
    )
    assert discounted.json()["totals"]["ht_cents"] == 125_000 + 99_000 + 120_000 - 24_000
    issued = client.post(f"/quotes/{quote['quote_id']}/issue", headers=tokens.finance)
    assert issued.json()["status"] == "issued"
    text = pdf_text(client.get("/order-forms/BC-2025-000001/pdf", headers=tokens.finance).content)
    assert "multi-site discount" not in text  # the reason stays with finance
    assert "-240,00 €" in text
    assert "3 200,00 €" in text


def test_bad_requests_say_what_is_wrong(client: TestClient, tokens: Tokens, feed: Feed) -> None:
    feed(registered())
    quote = only_quote(client, tokens)
    no_reason = client.post(
        f"/quotes/{quote['quote_id']}/adjustments",
        headers=tokens.finance,
        json={"kind": "discount", "amount_cents": 100},
    )
    assert no_reason.status_code == 422
    assert "reason" in no_reason.text
    too_much = client.post(
        f"/quotes/{quote['quote_id']}/adjustments",
        headers=tokens.finance,
        json={"kind": "discount", "amount_cents": 10_000_000, "reason": "x"},
    )
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["field"] == "amount_cents"
    unknown = client.get("/order-forms/BC-2025-000009", headers=tokens.finance)
    assert unknown.status_code == 404
    assert client.get("/editions/2025/quotes", headers=tokens.auditor).status_code == 403
    negative = client.put(
        "/editions/2025/price-list", headers=tokens.admin, json={"small_structure_cents": -5}
    )
    assert negative.status_code == 422
    assert (
        client.put(
            "/editions/2025/price-list", headers=tokens.finance, json={"small_structure_cents": 5}
        ).status_code
        == 403
    )


def test_cancelling_an_order_form_makes_a_credit_note_and_a_revision(
    client: TestClient, tokens: Tokens, feed: Feed
) -> None:
    feed(registered())
    quote = only_quote(client, tokens)
    client.post(f"/quotes/{quote['quote_id']}/issue", headers=tokens.finance)
    cancelled = client.post(
        "/order-forms/BC-2025-000001/cancel", headers=tokens.finance, json={"reason": "wrong kind"}
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["credit_note"] == "AV-2025-000001"
    assert body["cancelled"]["status"] == "cancelled"
    assert body["cancelled"]["totals"]["ht_cents"] == 125_000  # the document is unchanged
    assert body["revision"]["revises"] == "BC-2025-000001"
    assert body["revision"]["status"] == "draft"
    note = client.get("/credit-notes/AV-2025-000001", headers=tokens.finance)
    assert note.status_code == 200, note.text
    assert note.json()["order_form_number"] == "BC-2025-000001"
    assert note.json()["totals"] == {"ht_cents": 125_000, "vat_cents": 25_000, "ttc_cents": 150_000}
    assert note.json()["reason"] == "wrong kind"
    assert client.get("/credit-notes/AV-2025-000002", headers=tokens.finance).status_code == 404
