"""Products as Items on the local Xero: the code made of the key, the side the account is on, prices in the base
currency only, refusals before anything is sent, lost answers, lines selling an item, a consent without the scope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from config.secrets import Credentials
from providers.errors import DataError, NotFoundError, RetryableError
from providers.oauth import LocalCredentialStore
from providers.types import DocumentKind, LineItem, OutgoingDocument, OutgoingProduct, ProductType, PushRequest
from providers.xero import XeroProvider
from providers.xero.mapping import item_code
from sandboxes.xero.sandbox import SandboxInfo
from tests.conftest_xero import XeroRaw, XeroTenant
from tests.providers.xero.support import Recorder, contact, held_invoice, make_provider


@pytest.fixture(scope="module")
def tenant(xero_raw: XeroRaw) -> XeroTenant:
    return xero_raw.new_tenant("Products Organisation")


@pytest.fixture(scope="module")
def store(tenant: XeroTenant) -> LocalCredentialStore:
    return LocalCredentialStore(tenant.credentials)


@pytest.fixture
def provider(xero_sandbox: SandboxInfo, tenant: XeroTenant, store: LocalCredentialStore) -> Iterator[XeroProvider]:
    with make_provider(xero_sandbox, tenant, store) as instance:
        yield instance


@pytest.fixture(autouse=True)
def _no_faults(xero_raw: XeroRaw) -> Iterator[None]:
    yield
    xero_raw.clear_faults()


def product(**fields: Any) -> OutgoingProduct:
    return OutgoingProduct(id=str(uuid.uuid4()), name=fields.pop("name", f"Desk {uuid.uuid4().hex[:6]}"),
                           type=fields.pop("type", ProductType.PRODUCT), **fields)


def held_item(raw: XeroRaw, tenant: XeroTenant, item_id: str) -> dict[str, Any]:
    return next(i for i in raw.state(tenant.tenant_id, "items") if i["ItemID"] == item_id)


def items(raw: XeroRaw, tenant: XeroTenant) -> int:
    return len(raw.state(tenant.tenant_id, "items"))


def test_an_item_is_coded_by_its_key_and_sells_into_the_revenue_account_with_its_tax_and_price(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    key = uuid.uuid4().hex
    pushed = provider.push_product(product(name="Standing desk", description="Oak, 160 cm", unit_price=45_000,
                                           currency="GBP", tax_rate_value=2000), key, None)
    held = held_item(xero_raw, tenant, pushed.platform_id)
    assert held["Code"] == item_code(key) and len(held["Code"]) == 30
    assert (held["Name"], held["Description"]) == ("Standing desk", "Oak, 160 cm")
    assert held["SalesDetails"] == {"UnitPrice": 450.0, "AccountCode": "200", "TaxType": "OUTPUT2"}
    assert "PurchaseDetails" not in held


def test_a_product_on_an_expense_account_is_bought_and_a_price_in_another_currency_is_left_out(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    pushed = provider.push_product(product(ledger_account_id="429", tax_rate_value=2000, unit_price=1_000,
                                           currency="USD", description="Paper"), uuid.uuid4().hex, None)
    held = held_item(xero_raw, tenant, pushed.platform_id)
    assert held["PurchaseDetails"] == {"AccountCode": "429", "TaxType": "INPUT2"}
    assert held["PurchaseDescription"] == "Paper" and "SalesDetails" not in held


def test_what_xero_would_refuse_is_refused_before_anything_is_sent(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    recorder = Recorder()
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        outcomes = {o.key: o.error for o in provider.push_products([
            PushRequest(product(tax_rate_value=1900), "rate"), PushRequest(product(ledger_account_id="999"), "account"),
            PushRequest(product(name="  "), "name"), PushRequest(product(), "gone", platform_id=str(uuid.uuid4())),
        ])}
    assert recorder.calls("POST", "/Items") == []
    assert {k: getattr(e, "field", type(e).__name__) for k, e in outcomes.items()} == {
        "rate": "tax_rate_value", "account": "ledger_account_id", "name": "name", "gone": "NotFoundError"}
    assert isinstance(outcomes["gone"], NotFoundError)
    assert "tax rate 19% does not exist in the accounting system" in str(outcomes["rate"])


def test_a_batch_is_one_lookup_and_one_write_and_a_retry_after_a_lost_answer_updates_the_same_items(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    requests = [PushRequest(product(unit_price=100 * n), uuid.uuid4().hex, may_exist=False) for n in range(1, 4)]
    before = items(xero_raw, tenant)
    xero_raw.fault(kind="cut_after_commit", method="POST", path="/Items", count=1)
    recorder = Recorder()
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        with pytest.raises(RetryableError):
            list(provider.push_products(requests))
        changed = [dataclasses.replace(r, item=dataclasses.replace(r.item, name=f"{r.item.name}+")) for r in requests]
        retried = list(provider.push_products(changed))  # changed meanwhile, no lookup asked for: still no second
    assert len(recorder.calls("GET", "/Items")) == 2 and len(recorder.calls("POST", "/Items")) == 2
    assert items(xero_raw, tenant) == before + 3
    assert [o.result.created for o in retried if o.result] == [False, False, False]
    assert [held_item(xero_raw, tenant, o.result.platform_id)["Name"] for o in retried if o.result] == \
        [r.item.name for r in changed]


def test_lines_selling_a_product_name_its_item_and_post_to_its_account(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    sold = provider.push_product(product(ledger_account_id="260"), uuid.uuid4().hex, None)
    bought = provider.push_product(product(ledger_account_id="429"), uuid.uuid4().hex, None)
    for kind, item in ((DocumentKind.RECEIVABLE, sold), (DocumentKind.PAYABLE, bought)):
        pushed = provider.push_document(OutgoingDocument(
            kind=kind, id=str(uuid.uuid4()), counterpart_platform_id=contact(xero_raw, tenant), currency="GBP",
            document_number=f"I-{uuid.uuid4().hex[:8]}", issue_date=dt.date(2026, 12, 1),
            lines=(LineItem("With the item", Decimal(1), 9_900, tax_rate_value=2000, product_platform_id=item.platform_id),
                   LineItem("Without", Decimal(1), 100)),
        ), uuid.uuid4().hex, None)
        first, second = held_invoice(xero_raw, tenant, pushed.platform_id)["LineItems"]
        code = held_item(xero_raw, tenant, item.platform_id)["Code"]
        assert (first["ItemCode"], first["AccountCode"]) == (code, "260" if kind is DocumentKind.RECEIVABLE else "429")
        assert Decimal(str(first["UnitAmount"])) == Decimal("99.00"), "the line's own price stands"
        assert "ItemCode" not in second and second["AccountCode"] == ("200" if kind is DocumentKind.RECEIVABLE else "412")


def test_a_consent_from_before_products_refuses_them_without_calling_xero(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    assert store.current is not None
    old = dict(store.current)
    old["scope"] = "offline_access accounting.transactions accounting.contacts accounting.settings.read"
    recorder = Recorder()
    with make_provider(xero_sandbox, tenant, LocalCredentialStore(Credentials(old)), transport=recorder) as provider:
        (outcome,) = provider.push_products([PushRequest(product(), "old-consent")])
    assert isinstance(outcome.error, DataError) and outcome.error.field == "product"
    assert "reconnect Xero" in outcome.error.message and recorder.requests == []
