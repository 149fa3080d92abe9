"""Bad input — API keys, bodies, amounts, text, task arguments — gets a clear error and loses or writes nothing.

(schemathesis' generated cases are in ``tests/api/test_schemathesis.py`` and ``test_reference_schemathesis.py``.)
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from models import Receivable
from models.db import get_sessionmaker
from tests.faults.tally import TALLY

pytestmark = pytest.mark.faults

INVOICE: dict[str, Any] = {
    "document_number": "H-1", "currency": "USD", "status": "issued", "issue_date": "2026-11-01",
    "subtotal": 1000, "tax_amount": 200, "total_amount": 1200,
    "line_items": [{"description": "Thing", "quantity": 1, "unit_price": 1000, "tax_rate_value": 2000}],
}


def _counterpart(client: Any, tenant: Any, name: str = "Hostile Customer") -> str:
    counterpart_id = str(uuid.uuid4())
    answer = client.put(f"/counterparts/{counterpart_id}", headers=tenant.headers,
                        json={"name": name, "is_customer": True})
    assert answer.status_code == 201, answer.text
    return counterpart_id


def _receivables() -> int:
    with get_sessionmaker()() as session:
        return int(session.scalar(select(func.count()).select_from(Receivable)) or 0)


def _refused(answer: Any, status: int, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"]["message"]
    if field is not None:
        assert field in body["error"]["message"], body


@pytest.mark.parametrize(("name", "headers", "status"), [
    ("no key", {}, 401),
    ("a key that is not one", {"Authorization": "Bearer bks_" + "0" * 40}, 401),
    ("not a bearer key", {"Authorization": "Basic YWRtaW46YWRtaW4="}, 401),
    ("a key with a NUL", {"Authorization": "Bearer bks_\x00"}, 401),
])
def test_wrong_keys_are_refused_and_say_why(api_client: Any, api_tenant: Any, name: str, headers: dict[str, str],
                                             status: int) -> None:
    answer = api_client.get("/accounting-connections", headers={"X-Organization-Id": str(api_tenant.id), **headers})
    _refused(answer, status)
    TALLY.fault(True)


def test_a_revoked_key_and_another_organizations_key_see_nothing(api_client: Any, api_tenant: Any) -> None:
    from api.keys import create_api_key, revoke_api_key
    from tests.api.conftest import make_tenant

    with get_sessionmaker()() as session:
        other = make_tenant(session, "Other Org")
        revoked = create_api_key(session, api_tenant.id, name="old")
        revoke_api_key(session, revoked.info.id)
        session.commit()
    counterpart = _counterpart(api_client, api_tenant)
    answer = api_client.get(f"/counterparts/{counterpart}", headers={
        "Authorization": f"Bearer {revoked.key}", "X-Organization-Id": str(api_tenant.id)})
    _refused(answer, 401)
    answer = api_client.get(f"/counterparts/{counterpart}", headers={
        "Authorization": f"Bearer {other.key}", "X-Organization-Id": str(api_tenant.id)})
    _refused(answer, 403)
    answer = api_client.get(f"/counterparts/{counterpart}", headers=other.headers)
    _refused(answer, 404)
    assert "Hostile Customer" not in answer.text
    TALLY.fault(True)


def test_an_oversized_body_is_refused_before_it_is_read(api_client: Any, api_tenant: Any) -> None:
    counterpart = _counterpart(api_client, api_tenant)
    before = _receivables()
    huge = {**INVOICE, "counterpart_id": counterpart, "memo": "x" * 2_000_000}
    answer = api_client.put(f"/receivables/{uuid.uuid4()}", headers=api_tenant.headers, json=huge)
    _refused(answer, 413)
    assert _receivables() == before
    TALLY.fault(True)


@pytest.mark.parametrize(("change", "field"), [
    ({"total_amount": 10**15 + 1}, "total_amount"),
    ({"total_amount": 2**63}, "total_amount"),
    ({"total_amount": -(2**63) - 1}, "total_amount"),
    ({"total_amount": 12.5}, "total_amount"),
    ({"total_amount": "1200"}, "total_amount"),
    ({"line_items": [{"description": "x", "quantity": 10**13, "unit_price": 1}]}, "quantity"),
    ({"line_items": [{"description": "x", "quantity": "1e400", "unit_price": 1}]}, "quantity"),
    ({"line_items": [{"description": "x", "quantity": "NaN", "unit_price": 1}]}, "quantity"),
    ({"currency": "XXX"}, "currency"),
    ({"currency": "usd"}, "currency"),
    ({"document_number": "bad\x00number"}, "document_number"),
    ({"memo": "\udc80 lone surrogate"}, None),
])
def test_amounts_and_text_outside_what_booksync_can_hold_are_a_422_naming_the_field(
    api_client: Any, api_tenant: Any, change: dict[str, Any], field: str | None
) -> None:
    counterpart = _counterpart(api_client, api_tenant)
    before = _receivables()
    body = {**INVOICE, "counterpart_id": counterpart, **change}
    import json

    raw = json.dumps(body, ensure_ascii=True)  # a lone surrogate travels as its \\u escape, as a client sends it
    answer = api_client.put(f"/receivables/{uuid.uuid4()}", headers={**api_tenant.headers,
                            "Content-Type": "application/json"}, content=raw)
    _refused(answer, 422, field)
    assert "detail" in answer.json(), "the reference's detail list comes with it"
    assert _receivables() == before
    TALLY.fault(True)


@pytest.mark.parametrize(("currency", "amount"), [("JPY", 1000), ("KWD", 1234), ("USD", 10**15), ("EUR", -500)])
def test_amounts_at_the_limits_and_currencies_of_zero_and_three_decimals_are_kept_exactly(
    api_client: Any, api_tenant: Any, currency: str, amount: int
) -> None:
    counterpart = _counterpart(api_client, api_tenant)
    document_id = str(uuid.uuid4())
    body = {**INVOICE, "counterpart_id": counterpart, "currency": currency, "subtotal": amount, "tax_amount": 0,
            "total_amount": amount, "line_items": [{"description": "Edge", "quantity": 1, "unit_price": amount}]}
    answer = api_client.put(f"/receivables/{document_id}", headers=api_tenant.headers, json=body)
    assert answer.status_code == 201, answer.text
    stored = api_client.get(f"/receivables/{document_id}", headers=api_tenant.headers).json()
    assert (stored["currency"], stored["total_amount"], stored["line_items"][0]["unit_price"]) == (
        currency, amount, amount)
    TALLY.fault(True)


TEXTS = {
    "control characters": "tab\there, bell\a, escape\x1b[31m, delete\x7f, C1\x85\x9f",
    "plane 0 (BMP)": "Grüße, 東京, עברית, العربية, ‮right-to-left override",
    "plane 1 (emoji, old scripts)": "🧾💶 𐌰𐌱 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "plane 2 (CJK extension B)": "𠀀𠀁𪛖",
    "plane 14 (tags, variation)": "\U000e0001\U000e0041\U000e007f",
    "planes 15-16 (private use)": "\U000f0000\U0010fffd",
    "zero-width and combining": "e\u0301\u200b\u200d\ufeff",
}


@pytest.mark.parametrize("kind", list(TEXTS))
def test_text_of_every_unicode_plane_is_stored_and_served_unchanged(api_client: Any, api_tenant: Any, kind: str) -> None:
    text = TEXTS[kind]
    counterpart = _counterpart(api_client, api_tenant, name=f"Customer {text}"[:255])
    document_id = str(uuid.uuid4())
    body = {**INVOICE, "counterpart_id": counterpart, "memo": text, "document_number": text[:128],
            "line_items": [{"description": text, "quantity": 1, "unit_price": 1000, "tax_rate_value": 2000}]}
    answer = api_client.put(f"/receivables/{document_id}", headers=api_tenant.headers, json=body)
    assert answer.status_code == 201, answer.text
    stored = api_client.get(f"/receivables/{document_id}", headers=api_tenant.headers).json()
    assert stored["memo"] == text and stored["line_items"][0]["description"] == text
    assert api_client.get(f"/counterparts/{counterpart}", headers=api_tenant.headers).json()["name"].endswith(text)
    TALLY.fault(True)


@pytest.mark.parametrize(("task", "args", "message"), [
    ("tasks.sync_connection", ["not-a-uuid", "manual"], "connection_id must be a UUID"),
    ("tasks.sync_connection", [{"id": 1}, "manual"], "connection_id must be a UUID"),
    ("tasks.sync_connection", [str(uuid.uuid4()), "sometimes"], "trigger must be one of"),
    ("tasks.sync_connection", [str(uuid.uuid4()), "manual", "yes"], "full_reconcile must be true or false"),
    ("tasks.sync_connection", [str(uuid.uuid4()), "manual", False, ["bill"]], "resume must be a list of document kinds"),
    ("tasks.sync_connection", [str(uuid.uuid4()), "manual", False, "payable"], "resume must be a list of document kinds"),
    ("tasks.push_synced_record", ["'; DROP TABLE accounting_synced_records; --"], "synced_record_id must be a UUID"),
    ("tasks.push_synced_record", [str(uuid.uuid4())], "no synced record"),
    ("tasks.disconnect_connection", [None], "connection_id must be a UUID"),
    ("tasks.disconnect_connection", [str(uuid.uuid4())], "no connection"),
    ("tasks.schedule_due_syncs", [None, 10**9], "partitions must be from 1 to 256"),
    ("tasks.schedule_due_syncs", [3, 2], "partition must be from 0 to partitions - 1"),
])
def test_task_arguments_that_are_not_ids_fail_clearly_and_write_nothing(
    pg_url: str, task: str, args: list[Any], message: str
) -> None:
    from sqlalchemy import text

    import tasks  # noqa: F401  (registers the task definitions, whatever ran before)
    from worker import app

    def rows() -> dict[str, int]:
        with get_sessionmaker()() as session:
            return {table: int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
                    for table in ("accounting_synced_records", "accounting_connections", "organizations")}

    before = rows()
    result = app.tasks[task].apply(args=args)
    assert result.failed(), result.result
    assert message in str(result.result), result.result
    assert rows() == before
    TALLY.fault(True)
