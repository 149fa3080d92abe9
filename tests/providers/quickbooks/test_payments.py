"""Payment records on the local QuickBooks: what a BillPayment and a Payment carry (accounts, references, the key),
what is refused before anything is sent, one ``/batch`` per batch, a Fault as that payment's error, a lost answer,
a stale ``SyncToken`` on a change, deletion."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from providers.errors import DataError, NotFoundError, RetryableError
from providers.quickbooks import QuickBooksProvider
from providers.types import DocumentKind, OutgoingPayment, PushRequest
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.conftest_quickbooks import QuickBooksRaw
from tests.providers.quickbooks.support import Books, Recording, document, key, line

PAYABLE, RECEIVABLE = DocumentKind.PAYABLE, DocumentKind.RECEIVABLE
ENTITY = {PAYABLE: "BillPayment", RECEIVABLE: "Payment"}


@pytest.fixture(scope="module")
def gb(quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw) -> Books:
    return Books(quickbooks_sandbox, quickbooks_raw.new_company("Payments UK Ltd", country="GB", currency="USD"))


@pytest.fixture
def provider(gb: Books) -> Iterator[QuickBooksProvider]:
    with gb.provider() as instance:
        yield instance


@pytest.fixture(autouse=True)
def _no_faults_left(quickbooks_raw: QuickBooksRaw) -> Iterator[None]:
    yield
    quickbooks_raw.clear_faults()


def pushed(provider: QuickBooksProvider, books: Books, kind: DocumentKind, price: int = 10_000) -> str:
    party = books.vendor() if kind is PAYABLE else books.customer()
    return provider.push_document(document(kind, party, line(price, rate=2000)), key(), None).platform_id


def payment(kind: DocumentKind, document_id: str, amount: int, **fields: Any) -> OutgoingPayment:
    return OutgoingPayment(id=key(), kind=kind, document_platform_id=document_id, amount=amount,
                           currency=fields.pop("currency", "USD"), paid_date=fields.pop("paid_date", dt.date(2026, 12, 1)),
                           **fields)


def held(raw: QuickBooksRaw, books: Books, entity: str, entity_id: str) -> dict[str, Any]:
    return next(o for o in raw.state(books.realm_id, entity) if o["Id"] == entity_id)


def test_a_bill_payment_is_a_check_from_the_first_bank_account_with_the_reference_and_the_key(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    bill = pushed(provider, gb, PAYABLE)
    paid = provider.push_payment(payment(PAYABLE, bill, 5_000, reference="CHQ 1042"), payment_key := key(), None)
    recorded = held(quickbooks_raw, gb, "BillPayment", paid.platform_id)
    assert recorded["PayType"] == "Check"
    assert recorded["CheckPayment"]["BankAccountRef"]["value"] == gb.company.seeded["accounts"]["bank"]
    assert recorded["DocNumber"] == "CHQ 1042" and recorded["TxnDate"] == "2026-12-01"
    assert recorded["PrivateNote"].startswith(f"CHQ 1042\n[booksync:{payment_key} ")
    assert recorded["VendorRef"]["value"] == gb.vendor() and Decimal(str(recorded["TotalAmt"])) == Decimal("50.00")
    assert recorded["Line"] == [{"Amount": 50, "LinkedTxn": [{"TxnId": bill, "TxnType": "Bill"}]}]


def test_a_bill_paid_by_card_and_an_invoice_deposited_where_it_is_told(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    accounts = gb.company.seeded["accounts"]
    by_card = provider.push_payment(payment(PAYABLE, pushed(provider, gb, PAYABLE), 1_000, account_id=accounts["card"]),
                                    key(), None)
    recorded = held(quickbooks_raw, gb, "BillPayment", by_card.platform_id)
    assert recorded["PayType"] == "CreditCard"
    assert recorded["CreditCardPayment"]["CCAccountRef"]["value"] == accounts["card"]

    invoice = pushed(provider, gb, RECEIVABLE)
    default = provider.push_payment(payment(RECEIVABLE, invoice, 1_000, reference="Stripe po_1"), key(), None)
    banked = provider.push_payment(payment(RECEIVABLE, invoice, 1_000, account_id=accounts["bank"]), key(), None)
    first, second = (held(quickbooks_raw, gb, "Payment", p.platform_id) for p in (default, banked))
    assert first["DepositToAccountRef"]["value"] == accounts["undeposited"], "QuickBooks' own default"
    assert first["PaymentRefNum"] == "Stripe po_1" and first["CustomerRef"]["value"] == gb.customer()
    assert second["DepositToAccountRef"]["value"] == accounts["bank"]


def test_what_quickbooks_would_refuse_is_refused_before_anything_is_sent(
    gb: Books, quickbooks_raw: QuickBooksRaw
) -> None:
    accounts = gb.company.seeded["accounts"]
    with gb.provider() as provider:
        bill, invoice = pushed(provider, gb, PAYABLE), pushed(provider, gb, RECEIVABLE)
    recording = Recording()
    with gb.provider(transport=recording) as provider:
        requests = {
            "income account": payment(PAYABLE, bill, 1_000, account_id=accounts["services"]),
            "deposit to expenses": payment(RECEIVABLE, invoice, 1_000, account_id=accounts["office"]),
            "unknown account": payment(PAYABLE, bill, 1_000, account_id="987654"),
            "overpaid": payment(PAYABLE, bill, 12_001),
            "euro": payment(RECEIVABLE, invoice, 1_000, currency="EUR"),
            "no such invoice": payment(RECEIVABLE, "987654", 1_000),
            "not an id": payment(PAYABLE, "bill-1", 1_000),
            "negative": payment(PAYABLE, bill, -5),
        }
        outcomes = {o.key: o.error for o in provider.push_payments([PushRequest(p, k) for k, p in requests.items()])}
    assert recording.writes() == [], "nothing was sent"
    assert {k: getattr(e, "field", None) if isinstance(e, DataError) and not isinstance(e, NotFoundError)
            else type(e).__name__ for k, e in outcomes.items()} == {
        "income account": "account_id", "deposit to expenses": "account_id", "unknown account": "account_id",
        "overpaid": "amount", "euro": "currency", "no such invoice": "NotFoundError", "not an id": "NotFoundError",
        "negative": "amount"}
    assert "120.01 USD is more than the 120.00 USD due on bill" in str(outcomes["overpaid"])


def test_a_batch_is_one_read_per_entity_and_one_batch_call(gb: Books, quickbooks_raw: QuickBooksRaw) -> None:
    with gb.provider() as provider:
        bills = [pushed(provider, gb, PAYABLE) for _ in range(2)]
        invoice = pushed(provider, gb, RECEIVABLE)
    recording = Recording()
    with gb.provider(transport=recording) as provider:
        outcomes = list(provider.push_payments([
            PushRequest(payment(PAYABLE, bills[0], 4_000), "a"), PushRequest(payment(PAYABLE, bills[0], 8_000), "b"),
            PushRequest(payment(PAYABLE, bills[1], 1_000), "c"), PushRequest(payment(RECEIVABLE, invoice, 12_000), "d"),
        ]))
    assert [o.error for o in outcomes] == [None] * 4 and all(o.result and o.result.created for o in outcomes)
    (write,) = recording.writes()
    assert write.url.path.endswith("/batch") and len(json.loads(write.content)["BatchItemRequest"]) == 4
    queries = [r.content.decode().split(" WHERE")[0] for r in recording.requests if r.url.path.endswith("/query")]
    documents = [q for q in queries if q.split()[-1] in ("Bill", "Invoice", "BillPayment", "Payment")]
    assert sorted(documents) == ["SELECT * FROM Bill", "SELECT * FROM Invoice"], "no payments to look up yet"
    assert held(quickbooks_raw, gb, "Bill", bills[0])["Balance"] == 0


def test_a_payment_quickbooks_refuses_is_that_payments_error_and_the_others_are_recorded(
    gb: Books, quickbooks_raw: QuickBooksRaw
) -> None:
    """Someone deletes an invoice in QuickBooks between booksync's read and its write: a Fault on that item alone."""
    with gb.provider() as provider:
        doomed, fine = pushed(provider, gb, RECEIVABLE), pushed(provider, gb, RECEIVABLE)

    def delete_first(request: httpx.Request) -> None:
        if request.url.path.endswith("/batch"):
            quickbooks_raw.delete(gb.company, "Invoice", doomed)

    with gb.provider(transport=Recording(before=delete_first)) as provider:
        outcomes = {o.key: o for o in provider.push_payments([
            PushRequest(payment(RECEIVABLE, doomed, 1_000), "doomed"), PushRequest(payment(RECEIVABLE, fine, 1_000), "ok")])}
    error = outcomes["doomed"].error
    assert isinstance(error, DataError) and error.field == "document_platform_id", error
    assert outcomes["ok"].result is not None and outcomes["ok"].result.created
    assert held(quickbooks_raw, gb, "Invoice", fine)["Balance"] == 110


def test_a_payment_whose_answer_was_cut_off_is_found_through_its_document_and_not_sent_again(
    gb: Books, quickbooks_raw: QuickBooksRaw
) -> None:
    with gb.provider() as provider:
        bill = pushed(provider, gb, PAYABLE)
    request = PushRequest(payment(PAYABLE, bill, 12_000), key(), may_exist=False)
    quickbooks_raw.fault(kind="cut_after_commit", path_contains="/billpayment", realm_id=gb.realm_id)
    recording = Recording()
    with gb.provider(transport=recording) as provider:
        with pytest.raises(RetryableError):
            provider.push_payment(request.item, request.key, None, may_exist=False)
        (retried,) = provider.push_payments([request])
    assert len(recording.writes()) == 1, "the retry found it on the bill's LinkedTxn"
    assert retried.result is not None and not retried.result.created
    assert [p["Id"] for p in quickbooks_raw.state(gb.realm_id, "BillPayment")
            if p["Line"][0]["LinkedTxn"][0]["TxnId"] == bill] == [retried.result.platform_id]


def test_a_changed_payment_is_updated_and_a_stale_sync_token_read_again(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    invoice = pushed(provider, gb, RECEIVABLE)
    original = payment(RECEIVABLE, invoice, 3_000)
    first = provider.push_payment(original, payment_key := key(), None)

    def someone_edits(request: httpx.Request) -> None:
        if request.url.path.endswith("/payment") and b'"sparse"' in request.content and not someone_edits.done:
            someone_edits.done = True  # type: ignore[attr-defined]
            quickbooks_raw.update(gb.company, "Payment", first.platform_id, PaymentRefNum="edited")

    someone_edits.done = False  # type: ignore[attr-defined]
    with gb.provider(transport=Recording(before=someone_edits)) as editing:
        changed = editing.push_payment(dataclasses.replace(original, amount=5_000), payment_key, first.platform_id)
    assert changed.platform_id == first.platform_id and not changed.created
    recorded = held(quickbooks_raw, gb, "Payment", first.platform_id)
    assert Decimal(str(recorded["TotalAmt"])) == Decimal("50.00")
    assert held(quickbooks_raw, gb, "Invoice", invoice)["Balance"] == 70


def test_deleting_a_payment_gives_its_document_the_balance_back_and_is_done_once(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    for kind in (PAYABLE, RECEIVABLE):
        document_id = pushed(provider, gb, kind)
        paid = provider.push_payment(payment(kind, document_id, 12_000), key(), None)
        entity = ENTITY[kind]
        provider.delete_payment(kind, paid.platform_id)
        assert paid.platform_id in quickbooks_raw.deleted(gb.realm_id, entity)
        assert held(quickbooks_raw, gb, "Bill" if kind is PAYABLE else "Invoice", document_id)["Balance"] == 120
        provider.delete_payment(kind, paid.platform_id)  # already deleted: nothing to do
        provider.delete_payment(kind, "987654")
