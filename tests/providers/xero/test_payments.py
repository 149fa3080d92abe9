"""Payment records on the local Xero: the account a payment goes through, where its key lives, what is refused before
anything is sent, one read and one write per batch, a refusal by Xero as that payment's error, lost answers,
foreign currencies, deletion."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from providers.errors import DataError, NotFoundError, RetryableError
from providers.oauth import LocalCredentialStore
from providers.types import DocumentKind, LineItem, OutgoingDocument, OutgoingPayment, PushRequest
from providers.xero import XeroProvider
from sandboxes.xero.sandbox import SandboxInfo
from tests.conftest_xero import XeroRaw, XeroTenant
from tests.providers.xero.support import Recorder, contact, held_invoice, held_payment, make_provider

PAYABLE, RECEIVABLE = DocumentKind.PAYABLE, DocumentKind.RECEIVABLE
TOTAL = Decimal("296.28")  # 2 x 123.45 + 20% VAT


@pytest.fixture(scope="module")
def tenant(xero_raw: XeroRaw) -> XeroTenant:
    return xero_raw.new_tenant("Payments Organisation")


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


def document(raw: XeroRaw, tenant: XeroTenant, kind: DocumentKind = PAYABLE, currency: str = "GBP") -> OutgoingDocument:
    return OutgoingDocument(
        kind=kind, id=str(uuid.uuid4()), counterpart_platform_id=contact(raw, tenant), currency=currency,
        document_number=f"X-{uuid.uuid4().hex[:8]}", issue_date=dt.date(2026, 11, 30),
        lines=(LineItem(description="Desk", quantity=Decimal(2), unit_price=12_345, tax_rate_value=2000),),
    )


def payment(kind: DocumentKind, document_id: str, amount: int, **fields: Any) -> OutgoingPayment:
    return OutgoingPayment(id=str(uuid.uuid4()), kind=kind, document_platform_id=document_id, amount=amount,
                           currency=fields.pop("currency", "GBP"), paid_date=fields.pop("paid_date", dt.date(2026, 12, 1)),
                           **fields)


def account_id(raw: XeroRaw, tenant: XeroTenant, code: str) -> str:
    return next(a["AccountID"] for a in raw.state(tenant.tenant_id, "accounts") if a["Code"] == code)


def test_a_payment_goes_through_the_lowest_coded_bank_account_and_carries_its_key_after_the_reference(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    bill = provider.push_document(document(xero_raw, tenant), uuid.uuid4().hex, None)
    key = uuid.uuid4().hex
    result = provider.push_payment(payment(PAYABLE, bill.platform_id, 5_000, reference="BACS 0042"), key, None)
    held = held_payment(xero_raw, tenant, result.platform_id)
    assert held["Account"]["Code"] == "090", "Business Bank Account: the lowest-coded bank account"
    assert held["Reference"] == f"BACS 0042 [booksync:{key}]"
    assert Decimal(str(held["Amount"])) == Decimal("50.00") and held["PaymentType"] == "ACCPAYPAYMENT"
    midnight = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert held["Date"] == f"/Date({int(midnight.timestamp() * 1000)}+0000)/"
    assert result.platform_updated_at is not None and result.platform_updated_at.tzinfo is not None


@pytest.mark.parametrize("named", ["091", "id"])
def test_a_named_account_is_used_by_code_or_by_id(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider, named: str
) -> None:
    invoice = provider.push_document(document(xero_raw, tenant, RECEIVABLE), uuid.uuid4().hex, None)
    wanted = "091" if named == "091" else account_id(xero_raw, tenant, "091")
    result = provider.push_payment(payment(RECEIVABLE, invoice.platform_id, 1_000, account_id=wanted),
                                   uuid.uuid4().hex, None)
    assert held_payment(xero_raw, tenant, result.platform_id)["Account"]["Code"] == "091"


def test_what_xero_would_refuse_is_refused_before_anything_is_sent(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    recorder = Recorder()
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        bill = provider.push_document(document(xero_raw, tenant), uuid.uuid4().hex, None).platform_id
        with make_provider(xero_sandbox, tenant, store, post_documents=False) as drafts:
            draft = drafts.push_document(document(xero_raw, tenant), uuid.uuid4().hex, None).platform_id
        requests = {
            "sales account": payment(PAYABLE, bill, 1_000, account_id="200"),
            "unknown account": payment(PAYABLE, bill, 1_000, account_id="999"),
            "draft": payment(PAYABLE, draft, 1_000),
            "invoice, not bill": payment(RECEIVABLE, bill, 1_000),
            "no such bill": payment(PAYABLE, str(uuid.uuid4()), 1_000),
            "nothing paid": payment(PAYABLE, bill, 0),
            "euro": payment(PAYABLE, bill, 1_000, currency="EUR"),
        }
        outcomes = {o.key: o.error for o in provider.push_payments([PushRequest(p, k) for k, p in requests.items()])}
    assert recorder.calls("PUT", "/Payments") == [], "nothing was sent"
    fields = {k: (type(e).__name__, getattr(e, "field", None)) for k, e in outcomes.items()}
    assert fields == {
        "sales account": ("DataError", "account_id"), "unknown account": ("DataError", "account_id"),
        "draft": ("DataError", "document_platform_id"), "invoice, not bill": ("NotFoundError", None),
        "no such bill": ("NotFoundError", None), "nothing paid": ("DataError", "amount"),
        "euro": ("DataError", "currency"),
    }
    assert "takes no payments in Xero" in str(outcomes["sales account"])
    assert "is a draft in Xero (DRAFT)" in str(outcomes["draft"])
    assert held_invoice(xero_raw, tenant, bill)["AmountPaid"] == 0


def test_a_batch_is_one_read_of_its_invoices_and_one_write(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    with make_provider(xero_sandbox, tenant, store) as provider:
        bills = [provider.push_document(document(xero_raw, tenant), uuid.uuid4().hex, None).platform_id
                 for _ in range(2)]
    recorder = Recorder()
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        outcomes = list(provider.push_payments([
            PushRequest(payment(PAYABLE, bills[0], 10_000), "a"), PushRequest(payment(PAYABLE, bills[0], 19_628), "b"),
            PushRequest(payment(PAYABLE, bills[1], 2_500), "c"),
        ]))
    assert [o.error for o in outcomes] == [None, None, None]
    assert len(recorder.calls("GET", "/Invoices")) == 1 and len(recorder.calls("PUT", "/Payments")) == 1
    assert "summarizeErrors=false" in recorder.calls("PUT", "/Payments")[0][2]
    assert held_invoice(xero_raw, tenant, bills[0])["Status"] == "PAID"
    assert Decimal(str(held_invoice(xero_raw, tenant, bills[1])["AmountDue"])) == TOTAL - 25


def test_a_payment_xero_refuses_is_that_payments_error_and_the_others_are_recorded(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    """Someone voids an invoice in Xero between booksync's read and its write: Xero refuses that payment alone."""
    with make_provider(xero_sandbox, tenant, store) as provider:
        doomed, fine = (provider.push_document(document(xero_raw, tenant, RECEIVABLE), uuid.uuid4().hex, None)
                        .platform_id for _ in range(2))

    def void_first(request: httpx.Request) -> None:
        if request.method == "PUT" and request.url.path.endswith("/Payments"):
            xero_raw.api(tenant, "POST", f"/Invoices/{doomed}",
                         json={"Invoices": [{"InvoiceID": doomed, "Status": "VOIDED"}]}).raise_for_status()

    with make_provider(xero_sandbox, tenant, store, transport=Recorder(before=void_first)) as provider:
        outcomes = {o.key: o for o in provider.push_payments([
            PushRequest(payment(RECEIVABLE, doomed, 1_000), "doomed"), PushRequest(payment(RECEIVABLE, fine, 1_000), "ok")])}
    error = outcomes["doomed"].error
    assert isinstance(error, DataError) and error.field == "document_platform_id"
    assert "Authorised documents" in error.message
    assert outcomes["ok"].result is not None and outcomes["ok"].result.created
    assert held_invoice(xero_raw, tenant, fine)["AmountPaid"] == 10.0


def test_a_batch_whose_answer_was_cut_off_is_found_on_its_invoices_and_not_sent_again(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    with make_provider(xero_sandbox, tenant, store) as provider:
        bills = [provider.push_document(document(xero_raw, tenant), uuid.uuid4().hex, None).platform_id
                 for _ in range(2)]
    requests = [PushRequest(payment(PAYABLE, bill, 29_628), uuid.uuid4().hex) for bill in bills]
    xero_raw.fault(kind="cut_after_commit", method="PUT", path="/Payments", count=1)
    recorder = Recorder()
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        with pytest.raises(RetryableError):
            list(provider.push_payments(requests))
        retried = list(provider.push_payments(requests))  # the engine's retry; may_exist or not, the same
    assert len(recorder.calls("PUT", "/Payments")) == 1, "the retry found both on their bills"
    assert [o.result.created for o in retried if o.result] == [False, False]
    for bill, outcome in zip(bills, retried, strict=True):
        held = held_invoice(xero_raw, tenant, bill)
        assert held["Status"] == "PAID" and [p["PaymentID"] for p in held["Payments"]] == [outcome.result.platform_id]


def test_a_foreign_currency_invoice_is_paid_in_its_currency_from_the_base_currency_bank_account(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    invoice = provider.push_document(document(xero_raw, tenant, RECEIVABLE, currency="EUR"), uuid.uuid4().hex, None)
    result = provider.push_payment(payment(RECEIVABLE, invoice.platform_id, 29_628, currency="EUR"),
                                   uuid.uuid4().hex, None)
    held = held_payment(xero_raw, tenant, result.platform_id)
    assert held["Account"]["Code"] == "090" and held["Invoice"]["CurrencyCode"] == "EUR"
    pulled = provider.get_document(RECEIVABLE, invoice.platform_id)
    assert (pulled.currency, pulled.status, pulled.amount_due) == ("EUR", "paid", 0)


def test_deleting_sets_the_payment_deleted_and_asks_nothing_of_one_already_gone(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    recorder = Recorder()
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        bill = provider.push_document(document(xero_raw, tenant), uuid.uuid4().hex, None).platform_id
        paid = provider.push_payment(payment(PAYABLE, bill, 29_628), uuid.uuid4().hex, None).platform_id
        with pytest.raises(NotFoundError):
            provider.delete_payment(RECEIVABLE, paid)  # a bill's payment is no invoice's
        provider.delete_payment(PAYABLE, paid)
        provider.delete_payment(PAYABLE, paid)
        provider.delete_payment(PAYABLE, str(uuid.uuid4()))
    assert held_payment(xero_raw, tenant, paid)["Status"] == "DELETED"
    assert held_invoice(xero_raw, tenant, bill)["Status"] == "AUTHORISED"
    assert len(recorder.calls("POST", f"/Payments/{paid}")) == 1, "the second delete found it deleted"
