"""Organization A's key, walked over every endpoint with organization B's ids: 404 or 403 every time, and
never any of B's data in a body."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models import AccountingConnection, AccountingTaxRate, Counterpart
from tests.api.conftest import (
    Tenant,
    counterpart_body,
    document_body,
    make_accounting_document,
    make_connection,
    make_ledger_account,
    make_records,
    make_tax_rate,
)

MARK = "SECRET-B"


@dataclass
class OtherOrganization:
    tenant: Tenant
    ids: dict[str, str]
    every_id: set[str]


@pytest.fixture
def organization_b(client: TestClient, other_tenant: Tenant, tenant: Tenant, db: Session) -> OtherOrganization:
    b = other_tenant
    connection = make_connection(db, b.id, errors=[{"message": f"{MARK} error"}])
    (record,) = make_records(db, connection, 1, platform_object_id=f"{MARK}-P1", errors={"message": MARK})
    external = make_tax_rate(db, b.id, f"{MARK} VAT", connection=connection)
    internal = make_tax_rate(db, b.id, f"{MARK} internal")
    account = make_ledger_account(db, connection, f"{MARK} account")
    make_accounting_document(db, connection, "payable", "B-PAY-1", counterpart_name=f"{MARK} supplier", memo=MARK)
    make_accounting_document(db, connection, "receivable", "B-INV-1", counterpart_name=f"{MARK} customer", memo=MARK)
    counterpart_id, payable_id, receivable_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    counterpart = counterpart_body(name=f"{MARK} cp")
    assert client.put(f"/counterparts/{counterpart_id}", headers=b.headers, json=counterpart).status_code == 201
    for kind, identifier, status in (("payables", payable_id, "new"), ("receivables", receivable_id, "issued")):
        body = document_body(counterpart_id, status, memo=MARK, document_number=f"{MARK}-{kind}")
        assert client.put(f"/{kind}/{identifier}", headers=b.headers, json=body).status_code == 201
    subscription = client.post("/webhook-subscriptions", headers=b.headers, json={
        "url": "https://8.8.8.8/b-hooks", "event_types": ["accounting_connection.deauthorized"], "description": MARK})
    assert subscription.status_code == 201
    delivery = _webhook_delivery(db, b.id)
    product_id, payment_id = uuid.uuid4(), uuid.uuid4()
    product = {"name": f"{MARK} product", "description": MARK}
    assert client.put(f"/products/{product_id}", headers=b.headers, json=product).status_code == 201
    payment = {"object": {"type": "receivable", "id": str(receivable_id)}, "amount": 100, "currency": "EUR",
               "paid_date": "2026-01-15", "reference": MARK}
    assert client.put(f"/payment-records/{payment_id}", headers=b.headers, json=payment).status_code == 201
    # A has a connection and data of its own, so "not found" is not just "A has nothing".
    make_records(db, make_connection(db, tenant.id), 2)
    make_tax_rate(db, tenant.id, "A VAT")
    ids = {
        "organization_id": str(b.id),
        "connection_id": str(connection.id),
        "synced_record_id": str(record.id),
        "tax_rate_id": str(external.id),
        "internal_tax_rate_id": str(internal.id),
        "ledger_account_id": str(account.id),
        "payable_id": str(payable_id),
        "receivable_id": str(receivable_id),
        "counterpart_id": str(counterpart_id),
        "invoice_id": "B-INV-1",
        "accounting_payable_id": "B-PAY-1",
        "object_id": str(record.object_id),
        "webhook_subscription_id": subscription.json()["id"],
        "webhook_delivery_id": str(delivery.id),
        "event_id": str(delivery.event_id),
        "product_id": str(product_id),
        "payment_record_id": str(payment_id),
    }
    return OtherOrganization(b, ids, set(ids.values()))


def _webhook_delivery(db: Session, organization_id: uuid.UUID) -> Any:
    """An event of B's, delivered (pending) to B's subscription."""
    from sqlalchemy import select

    from models import WebhookDelivery, utcnow
    from webhooks.events import Draft, EventType
    from webhooks.outbox import write_events

    write_events(db, [Draft(EventType.CONNECTION_DEAUTHORIZED, organization_id, f"accounting_connection:{uuid.uuid4()}",
                            {"note": MARK})], utcnow())
    db.commit()
    return db.scalars(select(WebhookDelivery)).one()


Call = tuple[str, str, dict[str, Any] | None, set[int]]


def _walk(b: OtherOrganization, a_counterpart: str) -> list[Call]:
    """(method, path, body, allowed statuses) for every endpoint, aimed at B's objects with A's scope."""
    i = b.ids
    tax_body = {"name": "mine now", "effective_tax_rate": 1}
    document = document_body(a_counterpart, "draft")
    return [
        ("GET", f"/organizations/{i['organization_id']}", None, {403}),
        ("PUT", f"/organizations/{i['organization_id']}", {"name": "mine now"}, {403}),
        ("GET", f"/accounting-connections/{i['connection_id']}", None, {404}),
        ("PATCH", f"/accounting-connections/{i['connection_id']}", {"credentials": {"password": "x"}}, {404}),
        ("POST", f"/accounting-connections/{i['connection_id']}/sync", None, {404}),
        ("POST", f"/accounting-connections/{i['connection_id']}/disconnect", None, {404}),
        ("POST", f"/accounting-connections/{i['connection_id']}/tenant", {"tenant_id": "x"}, {404}),
        ("GET", f"/accounting-synced-records/{i['synced_record_id']}", None, {404}),
        ("POST", f"/accounting-synced-records/{i['synced_record_id']}/push", None, {404}),
        ("GET", f"/accounting/payables/{i['accounting_payable_id']}", None, {404}),
        ("GET", f"/accounting/receivables/{i['invoice_id']}", None, {404}),
        ("GET", f"/accounting-tax-rates/{i['tax_rate_id']}", None, {404}),
        ("GET", f"/accounting-tax-rates/{i['internal_tax_rate_id']}", None, {404}),
        ("PATCH", f"/accounting-tax-rates/{i['internal_tax_rate_id']}", tax_body, {404}),
        ("DELETE", f"/accounting-tax-rates/{i['internal_tax_rate_id']}", None, {404}),
        ("GET", f"/ledger-accounts/{i['ledger_account_id']}", None, {404}),
        ("GET", f"/counterparts/{i['counterpart_id']}", None, {404}),
        ("PUT", f"/counterparts/{i['counterpart_id']}", counterpart_body(), {404}),
        ("GET", f"/payables/{i['payable_id']}", None, {404}),
        ("PUT", f"/payables/{i['payable_id']}", document, {404}),
        ("GET", f"/receivables/{i['receivable_id']}", None, {404}),
        ("PUT", f"/receivables/{i['receivable_id']}", document, {404}),
        ("GET", f"/webhook-subscriptions/{i['webhook_subscription_id']}", None, {404}),
        ("PATCH", f"/webhook-subscriptions/{i['webhook_subscription_id']}", {"description": "mine now"}, {404}),
        ("DELETE", f"/webhook-subscriptions/{i['webhook_subscription_id']}", None, {404}),
        ("POST", f"/webhook-subscriptions/{i['webhook_subscription_id']}/rotate-secret", None, {404}),
        ("GET", f"/webhook-deliveries/{i['webhook_delivery_id']}", None, {404}),
        ("POST", f"/webhook-deliveries/{i['webhook_delivery_id']}/redeliver", None, {404}),
        ("GET", f"/accounting-connections/{i['connection_id']}/defaults", None, {404}),
        ("PATCH", f"/accounting-connections/{i['connection_id']}/defaults", {"payment_ledger_account_id": None}, {404}),
        ("GET", f"/products/{i['product_id']}", None, {404}),
        ("PUT", f"/products/{i['product_id']}", {"name": "mine now"}, {404}),
        ("GET", f"/payment-records/{i['payment_record_id']}", None, {404}),
        ("PUT", f"/payment-records/{i['payment_record_id']}", {
            "object": {"type": "payable", "id": str(uuid.uuid4())}, "amount": 1, "currency": "EUR",
            "paid_date": "2026-01-15"}, {404}),
        ("DELETE", f"/payment-records/{i['payment_record_id']}", None, {404}),
    ]


LISTS = [
    "/accounting-connections",
    "/accounting-synced-records?object_type=bill",
    "/accounting/payables",
    "/accounting/receivables",
    "/accounting-tax-rates",
    "/ledger-accounts",
    "/counterparts",
    "/payables",
    "/receivables",
    "/webhook-subscriptions",
    "/webhook-deliveries",
    "/products",
    "/payment-records",
]
CREATES = [
    ("POST", "/accounting-connections", {"platform": "tryton", "settings": {}, "credentials": {}}),
    ("POST", "/accounting-tax-rates", {"name": "x", "effective_tax_rate": 1}),
    ("POST", "/webhook-subscriptions", {"url": "https://8.8.8.8/a", "event_types": ["accounting_sync.finished"]}),
]


def _template(path: str) -> str:
    path = path.split("?")[0]
    path = re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}", "/{}", path)
    return re.sub(r"/B-(PAY|INV)-1", "/{}", path)


def _leaks(text: str, b: OtherOrganization, path: str, *sent: str) -> list[str]:
    """B's data in ``text``, not counting the ids the request itself sent (errors may name those)."""
    allowed = {part for part in path.split("/") if part} | set(sent)
    found = [mark for mark in (MARK, "Org B") if mark in text]
    found += [identifier for identifier in b.every_id - allowed if identifier in text]
    return found


def test_every_endpoint_refuses_another_organizations_objects(
    client: TestClient, tenant: Tenant, organization_b: OtherOrganization, db: Session
) -> None:
    a, b = tenant, organization_b
    a_counterpart = str(uuid.uuid4())
    assert client.put(f"/counterparts/{a_counterpart}", headers=a.headers, json=counterpart_body()).status_code == 201
    walked: set[tuple[str, str]] = set()

    for method, path, body, allowed in _walk(b, a_counterpart):
        response = client.request(method, path, headers=a.headers, json=body)
        assert response.status_code in allowed, (method, path, response.status_code, response.text)
        assert set(response.json()) == {"error"}, (method, path)
        assert not _leaks(response.text, b, path), (method, path, response.text)
        walked.add((method, _template(path)))

    for path in LISTS:
        response = client.get(path, headers=a.headers)
        assert response.status_code == 200, (path, response.text)
        assert not _leaks(response.text, b, path), (path, response.text)
        scoped_to_b = client.get(path, headers={**a.headers, "X-Organization-Id": str(b.tenant.id)})
        assert scoped_to_b.status_code == 403 and not _leaks(scoped_to_b.text, b, path, str(b.tenant.id)), path
        walked.add(("GET", _template(path)))

    for method, path, body in CREATES:
        response = client.request(method, path, headers={**a.headers, "X-Organization-Id": str(b.tenant.id)}, json=body)
        assert response.status_code == 403, (method, path, response.text)
        walked.add((method, path))

    for method, path, body, _ in _walk(b, a_counterpart):
        if path.startswith("/organizations"):
            continue
        response = client.request(method, path, headers={**a.headers, "X-Organization-Id": str(b.tenant.id)}, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert not _leaks(response.text, b, path, str(b.tenant.id)), (method, path, response.text)

    paths = client.get("/openapi.json").json()["paths"]
    every = {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path)) for path, item in paths.items() for method in item}
    assert every - walked == set(), "an endpoint the isolation walk does not cover"

    db.expire_all()
    i = b.ids
    assert db.get(AccountingConnection, uuid.UUID(i["connection_id"])).status == "connected"  # type: ignore[union-attr]
    internal = db.get(AccountingTaxRate, uuid.UUID(i["internal_tax_rate_id"]))
    assert internal is not None and internal.name == f"{MARK} internal"
    assert db.get(Counterpart, uuid.UUID(i["counterpart_id"])).name == f"{MARK} cp"  # type: ignore[union-attr]
    assert json.dumps(client.get(f"/payables/{i['payable_id']}", headers=b.tenant.headers).json()).count(MARK) == 2
    subscription = client.get(f"/webhook-subscriptions/{i['webhook_subscription_id']}", headers=b.tenant.headers)
    assert subscription.json()["description"] == MARK


def test_a_platform_key_sees_each_organization_only_through_its_header(
    client: TestClient, tenant: Tenant, organization_b: OtherOrganization, platform_key: str
) -> None:
    headers = {"Authorization": f"Bearer {platform_key}", "X-Organization-Id": str(tenant.id)}
    for path in LISTS:
        response = client.get(path, headers=headers)
        assert response.status_code == 200 and not _leaks(response.text, organization_b, path), path
    response = client.get(f"/counterparts/{organization_b.ids['counterpart_id']}", headers=headers)
    assert response.status_code == 404
