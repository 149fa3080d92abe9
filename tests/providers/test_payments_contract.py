"""The contract for payment records and products, run against the cloud adapters on their local systems (the local
Xero and the local QuickBooks, every request and answer checked against the vendor's definition on the way), with
each system's raw state as the oracle.

A backend (``tests/providers/conftest.py``) adds to the documents' contract: ``held_payments`` (the amounts the
system holds against a document), ``held_due``, ``payment_count``, ``is_payment_create`` (for cutting an answer
off), ``held_products`` and ``held_line_products``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from providers.base import AccountingProvider
from providers.errors import DataError, RetryableError
from providers.types import (
    Document,
    DocumentKind,
    LineItem,
    OutgoingDocument,
    OutgoingPayment,
    OutgoingProduct,
    ProductType,
    PushRequest,
)
from tests.providers.contract_support import CutOffAfterForwarding

PLATFORMS = ["xero", "quickbooks_online"]
KINDS = [DocumentKind.PAYABLE, DocumentKind.RECEIVABLE]
TOTAL = 29_628  # 2 x 123.45 + 20%


@pytest.fixture(params=PLATFORMS)
def backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def provider(backend: Any) -> Iterator[AccountingProvider]:
    """Documents are pushed approved (Xero records payments only on approved ones; QuickBooks has no drafts)."""
    with backend.provider(post_documents=True) as instance:
        yield instance


def document(backend: Any, kind: DocumentKind, *, product: str | None = None) -> OutgoingDocument:
    return OutgoingDocument(
        kind=kind, id=str(uuid.uuid4()), counterpart_platform_id=backend.counterpart_for(kind), currency="USD",
        document_number=f"P-{uuid.uuid4().hex[:10]}", issue_date=dt.date.today(),
        lines=(LineItem(description="Standing desk", quantity=Decimal(2), unit_price=12_345, tax_rate_value=2000,
                        product_platform_id=product),),
    )


def payment(kind: DocumentKind, document_id: str, amount: int, **fields: Any) -> OutgoingPayment:
    return OutgoingPayment(id=str(uuid.uuid4()), kind=kind, document_platform_id=document_id, amount=amount,
                           currency=fields.pop("currency", "USD"), paid_date=fields.pop("paid_date", dt.date.today()),
                           reference=fields.pop("reference", "Remittance 4471"), **fields)


def pushed(provider: AccountingProvider, kind: DocumentKind, backend: Any) -> str:
    result = provider.push_document(document(backend, kind), uuid.uuid4().hex, None, may_exist=False)
    assert backend.held_due(kind, result.platform_id) == TOTAL
    return result.platform_id


def pull_one(provider: AccountingProvider, kind: DocumentKind, platform_id: str, cursor: str | None
             ) -> tuple[Document, str | None]:
    """The document as an incremental pull from ``cursor`` brings it (it changed when it was paid)."""
    found: list[Document] = []
    for page in provider.iter_documents(kind, cursor):
        found += [d for d in page.items if d.platform_id == platform_id]
        cursor = page.next_cursor
    assert len(found) == 1, "the paid document comes in the next incremental pull"
    return found[0], cursor


def cursor_now(provider: AccountingProvider, kind: DocumentKind) -> str | None:
    cursor = None
    for page in provider.iter_documents(kind, None):
        cursor = page.next_cursor
    return cursor


def test_both_adapters_take_products_and_payments(provider: AccountingProvider) -> None:
    assert provider.supports_products and provider.supports_payments


@pytest.mark.parametrize("kind", KINDS)
def test_a_partial_then_a_full_payment_each_pushed_once(
    backend: Any, provider: AccountingProvider, kind: DocumentKind
) -> None:
    document_id = pushed(provider, kind, backend)
    cursor = cursor_now(provider, kind)
    partial = payment(kind, document_id, 10_000)
    first = provider.push_payment(partial, key := uuid.uuid4().hex, None, may_exist=False)
    assert first.created and first.platform_id
    assert backend.held_payments(kind, document_id) == [10_000]
    assert backend.held_due(kind, document_id) == TOTAL - 10_000
    pulled, cursor = pull_one(provider, kind, document_id, cursor)
    assert (pulled.status, pulled.amount_due, pulled.total_amount) == ("partially_paid", TOTAL - 10_000, TOTAL)
    assert provider.get_document(kind, document_id).status == "partially_paid"

    again = provider.push_payment(partial, key, None, may_exist=False)
    assert again.platform_id == first.platform_id and not again.created
    assert backend.held_payments(kind, document_id) == [10_000], "the same key records nothing twice"

    rest = provider.push_payment(payment(kind, document_id, TOTAL - 10_000), uuid.uuid4().hex, None)
    assert rest.created and rest.platform_id != first.platform_id
    assert sorted(backend.held_payments(kind, document_id)) == sorted([10_000, TOTAL - 10_000])
    assert backend.held_due(kind, document_id) == 0
    pulled, _ = pull_one(provider, kind, document_id, cursor)
    assert (pulled.status, pulled.amount_due) == ("paid", 0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_payment_retried_after_its_answer_was_lost_is_recorded_once(backend: Any, kind: DocumentKind) -> None:
    with backend.provider(post_documents=True) as provider:
        document_id = pushed(provider, kind, backend)
    full = payment(kind, document_id, TOTAL)
    key = uuid.uuid4().hex
    cutter = CutOffAfterForwarding(backend.network_transport(), backend.is_payment_create)
    with backend.provider(transport=cutter, post_documents=True) as provider:
        with pytest.raises(RetryableError):
            provider.push_payment(full, key, None, may_exist=False)
        assert cutter.cut == 1
        assert backend.held_payments(kind, document_id) == [TOTAL], "the system did record it"
        retried = provider.push_payment(full, key, None, may_exist=True)
    assert not retried.created
    with backend.provider(post_documents=True) as fresh:  # a new process, the same key, no lookup asked for
        again = fresh.push_payment(full, key, None, may_exist=False)
        assert fresh.get_document(kind, document_id).status == "paid"
    assert again.platform_id == retried.platform_id and not again.created
    assert backend.held_payments(kind, document_id) == [TOTAL]
    assert backend.held_due(kind, document_id) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_an_overpayment_is_refused_naming_the_amount(
    backend: Any, provider: AccountingProvider, kind: DocumentKind
) -> None:
    document_id = pushed(provider, kind, backend)
    provider.push_payment(payment(kind, document_id, 20_000), uuid.uuid4().hex, None)
    payments = backend.payment_count()
    with pytest.raises(DataError) as caught:
        provider.push_payment(payment(kind, document_id, TOTAL - 20_000 + 1), uuid.uuid4().hex, None)
    assert caught.value.field == "amount" and caught.value.value == TOTAL - 20_000 + 1
    assert "96.29 USD is more than the 96.28 USD due" in caught.value.message
    assert backend.payment_count() == payments
    assert backend.held_due(kind, document_id) == TOTAL - 20_000


def test_a_payment_in_another_currency_than_its_document_is_refused(backend: Any, provider: AccountingProvider) -> None:
    document_id = pushed(provider, DocumentKind.RECEIVABLE, backend)
    payments = backend.payment_count()
    with pytest.raises(DataError) as caught:
        provider.push_payment(payment(DocumentKind.RECEIVABLE, document_id, 1_000, currency="EUR"), "eur", None)
    assert caught.value.field == "currency" and caught.value.value == "EUR"
    assert "in USD" in caught.value.message
    assert backend.payment_count() == payments


def test_a_batch_of_payments_answers_each_one(backend: Any, provider: AccountingProvider) -> None:
    bill, invoice = pushed(provider, DocumentKind.PAYABLE, backend), pushed(provider, DocumentKind.RECEIVABLE, backend)
    requests = [
        PushRequest(payment(DocumentKind.PAYABLE, bill, 5_000), "b-1"),
        PushRequest(payment(DocumentKind.RECEIVABLE, invoice, TOTAL + 1), "too-much"),
        PushRequest(payment(DocumentKind.PAYABLE, bill, TOTAL - 5_000), "b-2"),
        PushRequest(payment(DocumentKind.RECEIVABLE, invoice, 7_000), "i-1"),
        PushRequest(payment(DocumentKind.PAYABLE, bill, 1), "b-3 over"),  # the two before it pay the bill in full
    ]
    outcomes = {o.key: o for o in provider.push_payments(requests)}
    assert set(outcomes) == {r.key for r in requests}
    assert {k for k, o in outcomes.items() if o.error is not None} == {"too-much", "b-3 over"}
    assert all(outcomes[k].error.field == "amount" for k in ("too-much", "b-3 over"))  # type: ignore[union-attr]
    assert sorted(backend.held_payments(DocumentKind.PAYABLE, bill)) == sorted([5_000, TOTAL - 5_000])
    assert backend.held_payments(DocumentKind.RECEIVABLE, invoice) == [7_000]


@pytest.mark.parametrize("kind", KINDS)
def test_a_deleted_payment_gives_the_document_its_due_back(
    backend: Any, provider: AccountingProvider, kind: DocumentKind
) -> None:
    document_id = pushed(provider, kind, backend)
    recorded = provider.push_payment(payment(kind, document_id, TOTAL), uuid.uuid4().hex, None)
    assert provider.get_document(kind, document_id).status == "paid"
    provider.delete_payment(kind, recorded.platform_id)
    assert backend.held_payments(kind, document_id) == []
    assert backend.held_due(kind, document_id) == TOTAL
    pulled = provider.get_document(kind, document_id)
    assert (pulled.status, pulled.amount_due) == ("open", TOTAL)
    provider.delete_payment(kind, recorded.platform_id)  # done again: nothing happens


def test_a_changed_payment_takes_the_place_of_the_one_recorded(backend: Any, provider: AccountingProvider) -> None:
    """QuickBooks changes the payment; Xero, which cannot edit one, deletes it and records the new one."""
    kind = DocumentKind.RECEIVABLE
    document_id = pushed(provider, kind, backend)
    original = payment(kind, document_id, 10_000)
    first = provider.push_payment(original, key := uuid.uuid4().hex, None)
    changed = dataclasses.replace(original, amount=12_000)
    replaced = provider.push_payment(changed, key, first.platform_id)
    assert backend.held_payments(kind, document_id) == [12_000]
    assert backend.held_due(kind, document_id) == TOTAL - 12_000
    again = provider.push_payment(changed, key, replaced.platform_id)
    assert again.platform_id == replaced.platform_id and not again.created
    assert backend.held_payments(kind, document_id) == [12_000]


def test_a_product_is_pushed_once_and_sold_on_an_invoice_line(backend: Any, provider: AccountingProvider) -> None:
    product = OutgoingProduct(id=str(uuid.uuid4()), name=f"Desk assembly {uuid.uuid4().hex[:6]}",
                              type=ProductType.SERVICE, description="Assembly of one desk", unit_price=4_500)
    before = len(backend.held_products())
    first = provider.push_product(product, key := uuid.uuid4().hex, None, may_exist=False)
    second = provider.push_product(product, key, None)
    assert first.created and not second.created and second.platform_id == first.platform_id
    held = backend.held_products()
    assert len(held) == before + 1
    assert held[first.platform_id]["name"] == product.name
    assert Decimal(str(held[first.platform_id]["unit_price"])) == Decimal("45.00")

    renamed = provider.push_product(dataclasses.replace(product, name=f"{product.name} (new)"), key, first.platform_id)
    assert renamed.platform_id == first.platform_id and not renamed.created
    assert backend.held_products()[first.platform_id]["name"] == f"{product.name} (new)"

    invoice = provider.push_document(document(backend, DocumentKind.RECEIVABLE, product=first.platform_id),
                                     uuid.uuid4().hex, None)
    assert backend.held_line_products(DocumentKind.RECEIVABLE, invoice.platform_id) == [first.platform_id]
    assert invoice.totals is not None and invoice.totals.total_amount == TOTAL, "the line's own price and tax stand"


def test_a_line_selling_a_product_the_system_lacks_is_a_data_error(backend: Any, provider: AccountingProvider) -> None:
    missing = "00000000-0000-0000-0000-000000000000" if backend.platform == "xero" else "987654"
    with pytest.raises(DataError) as caught:
        provider.push_document(document(backend, DocumentKind.RECEIVABLE, product=missing), uuid.uuid4().hex, None)
    assert caught.value.field == "lines[0].product_platform_id"
    assert f"product {missing} does not exist in the accounting system" in caught.value.message
