"""Products and payments as the contract has them (``push_products``, ``push_payments``, ``delete_payment``),
against the real system behind each backend: a real Tryton server, and the in-memory books.

The backends' oracles (``tests.providers.contract_support.PaymentsBackend``) read the system directly: a
product pushed twice under its key is one product, a product is sold on an invoice line, full and partial
payments of bills and invoices leave the system's amount due and status right, a payment pushed twice (or
retried after its answer was lost) is recorded once, an overpayment, another currency or a draft document is
refused with a message a person can act on and nothing recorded, a payment goes to the account it is given,
and a deleted payment reopens its document.
"""

from __future__ import annotations

import dataclasses
from typing import Any
import datetime as dt
import uuid
from decimal import Decimal

import pytest

from providers.base import AccountingProvider
from providers.errors import DataError, NotFoundError, NotReadyError, RetryableError
from providers.types import (
    DocumentKind,
    LineItem,
    OutgoingDocument,
    OutgoingPayment,
    OutgoingProduct,
    ProductType,
    PushRequest,
)
from tests.providers.contract_support import CutOffAfterForwarding, PaymentsBackend

KINDS = [DocumentKind.PAYABLE, DocumentKind.RECEIVABLE]
PLATFORMS = ["tryton", "memory"]


@pytest.fixture(params=PLATFORMS)
def backend(request: pytest.FixtureRequest) -> PaymentsBackend:
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


def document(backend: PaymentsBackend, kind: DocumentKind, *, product: str | None = None) -> OutgoingDocument:
    """2 × 123.45 + 20% = 296.28 USD."""
    return OutgoingDocument(
        kind=kind, id=str(uuid.uuid4()), counterpart_platform_id=backend.counterpart_for(kind), currency="USD",
        document_number=f"PAY-{uuid.uuid4().hex[:8]}", issue_date=dt.date.today(),
        lines=(LineItem("Standing desk", Decimal(2), 12_345, tax_rate_value=2000, product_platform_id=product),),
    )


def posted(backend: PaymentsBackend, kind: DocumentKind) -> str:
    with backend.provider(post_documents=True) as provider:
        return provider.push_document(document(backend, kind), f"doc-{uuid.uuid4()}", None).platform_id


def payment(kind: DocumentKind, document_id: str, amount: int, **changes: object) -> OutgoingPayment:
    base = OutgoingPayment(id=str(uuid.uuid4()), kind=kind, document_platform_id=document_id, amount=amount,
                           currency="USD", paid_date=dt.date.today(), method="bank_transfer", reference="TRX-42")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def product(**changes: object) -> OutgoingProduct:
    base = OutgoingProduct(id=str(uuid.uuid4()), name=f"Consulting hour {uuid.uuid4().hex[:6]}",
                           type=ProductType.SERVICE, description="One hour of a senior consultant", unit_price=15_000,
                           currency="USD", unit="hour", tax_rate_value=2000)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# -- products -----------------------------------------------------------------------------------


def test_it_takes_products_and_payments(provider: AccountingProvider) -> None:
    assert provider.supports_products and provider.supports_payments


def test_a_product_pushed_twice_under_its_key_is_one_product(backend: PaymentsBackend, provider: AccountingProvider) -> None:
    before = len(backend.held_products())
    item, key = product(), f"product-{uuid.uuid4()}"
    first = provider.push_product(item, key, None)
    second = provider.push_product(item, key, None)
    assert first.created and not second.created and first.platform_id == second.platform_id
    held = backend.held_products()
    assert len(held) == before + 1
    assert held[first.platform_id] == dataclasses.replace(held[first.platform_id], name=item.name, type="service",
                                                          unit_price=15_000)

    renamed = dataclasses.replace(item, name=f"{item.name} (senior)", unit_price=18_000, type=ProductType.PRODUCT)
    updated = provider.push_product(renamed, key, first.platform_id)
    assert updated.platform_id == first.platform_id and not updated.created
    held = backend.held_products()[first.platform_id]
    assert (held.name, held.unit_price, held.type) == (renamed.name, 18_000, "product")
    assert len(backend.held_products()) == before + 1


def test_products_come_in_batches_with_one_outcome_each(backend: PaymentsBackend, provider: AccountingProvider) -> None:
    bad = product(tax_rate_value=backend.missing_tax_rate())
    requests = [PushRequest(product(), f"batch-{uuid.uuid4()}"), PushRequest(bad, f"batch-{uuid.uuid4()}"),
                PushRequest(product(), f"batch-{uuid.uuid4()}")]
    outcomes = {outcome.key: outcome for outcome in provider.push_products(requests)}
    assert set(outcomes) == {r.key for r in requests}
    assert outcomes[requests[0].key].result is not None and outcomes[requests[2].key].result is not None
    refused = outcomes[requests[1].key].error
    assert isinstance(refused, DataError) and "does not exist in the accounting system" in refused.message


def test_a_product_is_sold_on_an_invoice_line(backend: PaymentsBackend, provider: AccountingProvider) -> None:
    sold = provider.push_product(product(), f"sold-{uuid.uuid4()}", None)
    invoice = provider.push_document(document(backend, DocumentKind.RECEIVABLE, product=sold.platform_id),
                                     f"sells-{uuid.uuid4()}", None)
    assert backend.held_line_products(DocumentKind.RECEIVABLE, invoice.platform_id) == [sold.platform_id]
    assert backend.held_documents(DocumentKind.RECEIVABLE)[invoice.platform_id].total_amount == 29_628
    pulled = provider.get_document(DocumentKind.RECEIVABLE, invoice.platform_id)
    assert [line.product_platform_id for line in pulled.lines] == [sold.platform_id]


# -- payments -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_partial_then_a_full_payment_leave_the_system_partly_paid_then_paid(
    backend: PaymentsBackend, provider: AccountingProvider, kind: DocumentKind
) -> None:
    document_id = posted(backend, kind)
    first = provider.push_payment(payment(kind, document_id, 10_000), f"part-{uuid.uuid4()}", None, may_exist=False)
    assert first.created
    assert backend.held_amount_due(kind, document_id) == 19_628
    pulled = provider.get_document(kind, document_id)
    assert (pulled.status, pulled.amount_due) == ("partially_paid", 19_628)

    rest = provider.push_payment(payment(kind, document_id, 19_628), f"rest-{uuid.uuid4()}", None, may_exist=False)
    assert rest.created and rest.platform_id != first.platform_id
    assert backend.held_amount_due(kind, document_id) == 0
    pulled = provider.get_document(kind, document_id)
    assert (pulled.status, pulled.amount_due) == ("paid", 0)
    assert sorted(p.amount for p in backend.held_payments(kind, document_id)) == [10_000, 19_628]


def test_a_payment_pushed_twice_under_its_key_is_recorded_once(
    backend: PaymentsBackend, provider: AccountingProvider
) -> None:
    kind = DocumentKind.PAYABLE
    document_id = posted(backend, kind)
    item, key = payment(kind, document_id, 5_000), f"twice-{uuid.uuid4()}"
    first = provider.push_payment(item, key, None, may_exist=False)
    second = provider.push_payment(item, key, None, may_exist=True)
    assert first.created and not second.created and second.platform_id == first.platform_id
    assert [p.amount for p in backend.held_payments(kind, document_id)] == [5_000]


def test_a_payment_whose_answer_was_lost_is_found_when_retried(backend: PaymentsBackend) -> None:
    kind = DocumentKind.RECEIVABLE
    document_id = posted(backend, kind)
    item, key = payment(kind, document_id, 29_628), f"lost-{uuid.uuid4()}"
    cutter = CutOffAfterForwarding(backend.network_transport(), backend.is_payment_record)
    with backend.provider(transport=cutter) as provider:
        with pytest.raises(RetryableError):
            provider.push_payment(item, key, None, may_exist=False)
        assert cutter.cut == 1
        assert len(backend.held_payments(kind, document_id)) == 1, "the system recorded it before the answer was lost"
        retried = provider.push_payment(item, key, None, may_exist=True)
    assert not retried.created
    assert [p.amount for p in backend.held_payments(kind, document_id)] == [29_628]


@pytest.mark.parametrize("kind", KINDS)
def test_an_overpayment_is_refused_saying_what_is_left_and_nothing_is_recorded(
    backend: PaymentsBackend, provider: AccountingProvider, kind: DocumentKind
) -> None:
    document_id = posted(backend, kind)
    provider.push_payment(payment(kind, document_id, 20_000), f"some-{uuid.uuid4()}", None, may_exist=False)
    with pytest.raises(DataError) as caught:
        provider.push_payment(payment(kind, document_id, 10_000), f"over-{uuid.uuid4()}", None, may_exist=False)
    assert "100.00 USD would overpay" in caught.value.message
    assert "96.28 USD" in caught.value.message, "says what is left"
    assert caught.value.field == "amount"
    assert [p.amount for p in backend.held_payments(kind, document_id)] == [20_000]


def test_a_payment_in_another_currency_than_its_document_is_refused(
    backend: PaymentsBackend, provider: AccountingProvider
) -> None:
    kind = DocumentKind.PAYABLE
    document_id = posted(backend, kind)
    with pytest.raises(DataError) as caught:
        provider.push_payment(payment(kind, document_id, 1_000, currency=backend.other_currency()),
                              f"eur-{uuid.uuid4()}", None, may_exist=False)
    assert caught.value.field == "currency"
    assert f"the payment is in {backend.other_currency()} but" in caught.value.message and "USD" in caught.value.message
    assert backend.held_payments(kind, document_id) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_payment_for_a_draft_is_not_ready_and_nothing_is_recorded(
    backend: PaymentsBackend, provider: AccountingProvider, kind: DocumentKind
) -> None:
    draft = provider.push_document(document(backend, kind), f"draft-{uuid.uuid4()}", None).platform_id
    with pytest.raises(NotReadyError) as caught:
        provider.push_payment(payment(kind, draft, 1_000), f"early-{uuid.uuid4()}", None, may_exist=False)
    assert "draft" in caught.value.message and "posted" in caught.value.message
    assert backend.held_payments(kind, draft) == []


def test_a_payment_for_a_document_the_system_lacks_is_not_found(provider: AccountingProvider) -> None:
    with pytest.raises(NotFoundError):
        provider.push_payment(payment(DocumentKind.PAYABLE, "987654", 1_000), f"nowhere-{uuid.uuid4()}", None,
                              may_exist=False)


def test_a_payment_goes_to_the_account_it_is_given(backend: PaymentsBackend, provider: AccountingProvider) -> None:
    kind = DocumentKind.RECEIVABLE
    document_id = posted(backend, kind)
    default = provider.push_payment(payment(kind, document_id, 1_000), f"default-{uuid.uuid4()}", None, may_exist=False)
    chosen = provider.push_payment(payment(kind, document_id, 2_000, account_id=backend.payment_account()),
                                   f"chosen-{uuid.uuid4()}", None, may_exist=False)
    accounts = {p.platform_id: p.account for p in backend.held_payments(kind, document_id)}
    assert accounts[chosen.platform_id] == backend.payment_account()
    assert accounts[default.platform_id] != backend.payment_account()


@pytest.mark.parametrize("kind", KINDS)
def test_a_deleted_payment_reopens_its_document(
    backend: PaymentsBackend, provider: AccountingProvider, kind: DocumentKind
) -> None:
    document_id = posted(backend, kind)
    part = provider.push_payment(payment(kind, document_id, 9_628), f"keep-{uuid.uuid4()}", None, may_exist=False)
    rest = provider.push_payment(payment(kind, document_id, 20_000), f"drop-{uuid.uuid4()}", None, may_exist=False)
    assert provider.get_document(kind, document_id).status == "paid"

    provider.delete_payment(kind, rest.platform_id)
    assert [p.platform_id for p in backend.held_payments(kind, document_id)] == [part.platform_id]
    assert backend.held_amount_due(kind, document_id) == 20_000
    pulled = provider.get_document(kind, document_id)
    assert (pulled.status, pulled.amount_due) == ("partially_paid", 20_000)
    try:
        provider.delete_payment(kind, rest.platform_id)  # again: nothing more happens
    except NotFoundError:
        pass
    assert backend.held_amount_due(kind, document_id) == 20_000

    again = provider.push_payment(payment(kind, document_id, 20_000), f"again-{uuid.uuid4()}", None, may_exist=False)
    assert again.created and provider.get_document(kind, document_id).status == "paid"


# -- Tryton's own ---------------------------------------------------------------------------------


def test_tryton_pays_an_invoice_in_another_currency_than_the_companys(tryton_backend: PaymentsBackend) -> None:
    """Tryton converts a EUR payment for its USD books at the rate of the day; the invoice's EUR due is exact."""
    kind = DocumentKind.RECEIVABLE
    with tryton_backend.provider(post_documents=True) as provider:
        invoice = provider.push_document(dataclasses.replace(document(tryton_backend, kind), currency="EUR"),
                                         f"eur-{uuid.uuid4()}", None).platform_id
        provider.push_payment(payment(kind, invoice, 10_000, currency="EUR"), f"eur-pay-{uuid.uuid4()}", None,
                              may_exist=False)
        pulled = provider.get_document(kind, invoice)
    assert (pulled.currency, pulled.status, pulled.amount_due) == ("EUR", "partially_paid", 19_628)


def test_tryton_refuses_a_product_priced_in_another_currency_or_an_unknown_unit(tryton_backend: PaymentsBackend) -> None:
    with tryton_backend.provider() as provider:
        before = len(tryton_backend.held_products())
        with pytest.raises(DataError) as caught:
            provider.push_product(product(currency="EUR"), f"eur-{uuid.uuid4()}", None)
        assert caught.value.field == "currency"
        assert "Tryton keeps a product's list price in the company's currency (USD)" in caught.value.message
        with pytest.raises(DataError) as caught:
            provider.push_product(product(unit="fortnight"), f"unit-{uuid.uuid4()}", None)
        assert caught.value.field == "unit" and "unit 'fortnight' does not exist in Tryton" in caught.value.message
        assert len(tryton_backend.held_products()) == before


def test_tryton_files_products_under_one_account_category_per_account_and_taxes(
    tryton_backend: PaymentsBackend, tryton_raw: object
) -> None:
    raw: Any = tryton_raw
    with tryton_backend.provider() as provider:
        first = provider.push_product(product(), f"cat-{uuid.uuid4()}", None)
        second = provider.push_product(product(), f"cat-{uuid.uuid4()}", None)
        untaxed = provider.push_product(product(tax_rate_value=None), f"cat-{uuid.uuid4()}", None)
    categories = {
        p["id"]: p["template."]["account_category"]
        for p in raw.search_read("product.product", [["id", "in", [int(first.platform_id), int(second.platform_id),
                                                                  int(untaxed.platform_id)]]],
                                 ["template.account_category"])
    }
    assert categories[int(first.platform_id)] == categories[int(second.platform_id)]
    assert categories[int(untaxed.platform_id)] != categories[int(first.platform_id)]
    names = {c["id"]: c["name"] for c in raw.search_read("product.category", [["id", "in", list(categories.values())]],
                                                          ["name"])}
    assert names[categories[int(first.platform_id)]] == "booksync: 4.1.1 Goods (VAT 20%)"
    assert names[categories[int(untaxed.platform_id)]] == "booksync: 4.1.1 Goods"
