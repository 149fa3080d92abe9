"""Pushing to the local QuickBooks: a lost answer answered again by its ``requestid``, stale ``SyncToken``s,
batches with one refused item, Faults named in booksync's fields, vendors and customers (both roles, adoption,
clashes), the default item, currencies, and what every call carries."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from providers.errors import DataError, NotFoundError, RetryableError
from providers.quickbooks import QuickBooksProvider
from providers.types import DocumentKind, OutgoingCounterpart, PushRequest
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.conftest_quickbooks import QuickBooksRaw, ValidatingTransport
from tests.providers.quickbooks.support import Books, document, key, line

PAYABLE, RECEIVABLE = DocumentKind.PAYABLE, DocumentKind.RECEIVABLE


@pytest.fixture(scope="module")
def gb(quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw) -> Books:
    return Books(quickbooks_sandbox, quickbooks_raw.new_company("Push UK Ltd", country="GB", currency="USD"))


@pytest.fixture
def provider(gb: Books) -> Iterator[QuickBooksProvider]:
    with gb.provider() as instance:
        yield instance


@pytest.fixture(autouse=True)
def _no_faults_left(quickbooks_raw: QuickBooksRaw) -> Iterator[None]:
    yield
    quickbooks_raw.clear_faults()


def count(quickbooks_raw: QuickBooksRaw, books: Books, entity: str, **fields: Any) -> int:
    return sum(1 for o in quickbooks_raw.state(books.realm_id, entity)
               if all(o.get(name) == value for name, value in fields.items()))


class Recording(httpx.BaseTransport):
    """Keeps every request the adapter sends (after the validating transport passed it)."""

    def __init__(self, before: Callable[[httpx.Request], None] | None = None) -> None:
        self.inner = ValidatingTransport()
        self.requests: list[httpx.Request] = []
        self.before = before
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if self.before is not None:
            self.before(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_create_whose_answer_was_cut_off_is_answered_again_by_its_requestid(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    bill = document(PAYABLE, gb.vendor(), line(12_345, "2", rate=2000))
    replays = quickbooks_raw.stats()["requestid_replays"]
    quickbooks_raw.fault(kind="cut_after_commit", path_contains="/bill", realm_id=gb.realm_id)
    with pytest.raises(RetryableError):
        provider.push_document(bill, key_one := key(), None, may_exist=False)
    assert count(quickbooks_raw, gb, "Bill", DocNumber=bill.document_number) == 1, "QuickBooks did create it"
    again = provider.push_document(bill, key_one, None, may_exist=False)  # no lookup: the same request again
    assert count(quickbooks_raw, gb, "Bill", DocNumber=bill.document_number) == 1
    assert quickbooks_raw.stats()["requestid_replays"] == replays + 1, "answered from the first attempt"
    assert again.totals is not None and again.totals.total_amount == 29_628

    pair = [document(PAYABLE, gb.vendor(), line(1_000, rate=2000)) for _ in range(2)]
    requests = [PushRequest(item, key()) for item in pair]
    quickbooks_raw.fault(kind="cut_after_commit", path_contains="/batch", realm_id=gb.realm_id)
    with pytest.raises(RetryableError):
        list(provider.push_documents(requests))
    outcomes = list(provider.push_documents(requests))  # the engine sends the same batch again
    assert [o.error for o in outcomes] == [None, None]
    assert all(count(quickbooks_raw, gb, "Bill", DocNumber=d.document_number) == 1 for d in pair)
    assert quickbooks_raw.stats()["requestid_replays"] == replays + 2


def test_a_retry_marked_may_exist_finds_what_the_lost_attempt_created(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    numbered, unnumbered = document(PAYABLE, gb.vendor(), line(rate=2000)), document(
        RECEIVABLE, gb.customer(), line(rate=2000), number=None)
    requests = [PushRequest(numbered, key()), PushRequest(unnumbered, key())]
    quickbooks_raw.fault(kind="cut_after_commit", path_contains="/batch", realm_id=gb.realm_id)
    with pytest.raises(RetryableError):
        list(provider.push_documents(requests))
    changed = dataclasses.replace(unnumbered, memo="changed meanwhile")
    retried = [PushRequest(numbered, requests[0].key, may_exist=True), PushRequest(changed, requests[1].key, may_exist=True)]
    outcomes = {o.key: o for o in provider.push_documents(retried)}
    assert all(o.result is not None and not o.result.created for o in outcomes.values())
    invoice = next(o for o in quickbooks_raw.state(gb.realm_id, "Invoice")
                   if o["Id"] == outcomes[requests[1].key].result.platform_id)  # type: ignore[union-attr]
    assert invoice["PrivateNote"].startswith("changed meanwhile"), "what changed since is updated in place"
    assert count(quickbooks_raw, gb, "Bill", DocNumber=numbered.document_number) == 1


def test_a_stale_sync_token_is_read_again_once_then_a_data_error(
    gb: Books, quickbooks_raw: QuickBooksRaw
) -> None:
    with gb.provider() as setup:
        created = setup.push_document(document(PAYABLE, gb.vendor(), line(rate=2000)), pushed_key := key(), None)
    meddled = 0

    def someone_else_edits(times: int) -> Callable[[httpx.Request], None]:
        def before(request: httpx.Request) -> None:
            nonlocal meddled
            body = json.loads(request.content) if request.content and request.url.path.endswith("/bill") else {}
            if body.get("sparse") and meddled < times:
                meddled += 1
                quickbooks_raw.update(gb.company, "Bill", created.platform_id, PrivateNote=f"edited {meddled}")
        return before

    changed = document(PAYABLE, gb.vendor(), line(30_000, rate=2000))
    with gb.provider(transport=Recording(someone_else_edits(1))) as provider:
        updated = provider.push_document(changed, pushed_key, created.platform_id)
    assert updated.platform_id == created.platform_id and updated.totals is not None
    assert updated.totals.subtotal == 30_000, "the second attempt, on the version read again, went through"
    meddled = 0
    with gb.provider(transport=Recording(someone_else_edits(2))) as provider, pytest.raises(DataError) as caught:
        provider.push_document(document(PAYABLE, gb.vendor(), line(40_000, rate=2000)), pushed_key, created.platform_id)
    assert caught.value.field == "SyncToken" and "keeps changing" in caught.value.message


def test_a_batch_goes_as_one_call_and_a_refused_item_is_that_documents_error(
    gb: Books, quickbooks_raw: QuickBooksRaw
) -> None:
    recording = Recording()
    documents = [document(PAYABLE, gb.vendor(), line(100 * (i + 1), rate=2000)) for i in range(31)]
    documents[4] = dataclasses.replace(documents[4], counterpart_platform_id="99999")
    before = quickbooks_raw.stats()["batch_calls"].get(gb.realm_id, 0)
    with gb.provider(transport=recording) as provider:
        outcomes = list(provider.push_documents([PushRequest(d, key()) for d in documents]))
    assert len(outcomes) == 31 and sum(1 for o in outcomes if o.result is not None) == 30
    refused = next(o for o in outcomes if o.error is not None)
    assert isinstance(refused.error, DataError) and refused.error.field == "counterpart_platform_id"
    assert "Invalid Reference Id" in refused.error.message
    writes = [r for r in recording.requests if r.method == "POST" and not r.url.path.endswith("/query")]
    assert [r.url.path.rsplit("/", 1)[-1] for r in writes] == ["batch", "bill"], "30 in a batch, the last alone"
    assert len(json.loads(writes[0].content)["BatchItemRequest"]) == 30
    assert quickbooks_raw.stats()["batch_calls"][gb.realm_id] == before + 1


def test_every_call_names_minorversion_75_and_every_write_carries_a_requestid(gb: Books) -> None:
    recording = Recording()
    with gb.provider(transport=recording) as provider:
        provider.check()
        provider.push_document(document(RECEIVABLE, gb.customer(), line(rate=2000)), key(), None)
        list(provider.iter_documents(RECEIVABLE, None))
    api = [r for r in recording.requests if r.url.path.startswith("/v3/")]
    assert api and all(r.url.params.get("minorversion") == "75" for r in api)
    writes = [r for r in api if r.method == "POST" and not r.url.path.endswith("/query")]
    assert writes and all(0 < len(r.url.params.get("requestid", "")) <= 36 for r in writes)
    assert all(r.headers["accept"] == "application/json" for r in api)


def test_faults_name_the_field_a_person_fixes(gb: Books, provider: QuickBooksProvider,
                                             quickbooks_raw: QuickBooksRaw) -> None:
    first = document(RECEIVABLE, gb.customer(), line(rate=2000))
    provider.push_document(first, key(), None)
    with pytest.raises(DataError) as duplicate:
        provider.push_document(dataclasses.replace(first, id="other"), key(), None)
    assert duplicate.value.field == "document_number" and first.document_number in duplicate.value.message
    with pytest.raises(DataError) as vendor:
        provider.push_document(document(PAYABLE, "424242", line(rate=2000)), key(), None)
    assert vendor.value.field == "counterpart_platform_id"
    with pytest.raises(DataError) as account:
        provider.push_document(document(PAYABLE, gb.vendor(), line(rate=2000, ledger_account_id="4242")), key(), None)
    assert account.value.field == "lines[0].ledger_account_id"
    assert account.value.message == "ledger account 4242 does not exist in the accounting system"
    with pytest.raises(DataError) as long_number:
        provider.push_document(document(PAYABLE, gb.vendor(), line(), number="N" * 22), key(), None)
    assert long_number.value.field == "document_number"
    with pytest.raises(NotFoundError):
        provider.push_document(document(PAYABLE, gb.vendor(), line(rate=2000)), key(), "987654")


def test_vendors_and_customers_both_roles_adoption_and_clashes(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    both = OutgoingCounterpart(id="both", name="Janus Trading", is_customer=True, is_vendor=True, email="ap@janus.test")
    pushed = provider.push_counterpart(both, both_key := key(), None)
    assert pushed.created and pushed.platform_id.startswith("vendor:") and ",customer:" in pushed.platform_id
    names = {o["DisplayName"] for e in ("Vendor", "Customer") for o in quickbooks_raw.state(gb.realm_id, e)}
    assert {"Janus Trading", "Janus Trading (vendor)"} <= names
    again = provider.push_counterpart(both, both_key, pushed.platform_id)
    assert again.platform_id == pushed.platform_id and not again.created

    bill = provider.push_document(document(PAYABLE, pushed.platform_id, line(rate=2000)), key(), None)
    invoice = provider.push_document(document(RECEIVABLE, pushed.platform_id, line(rate=2000)), key(), None)
    assert provider.get_document(PAYABLE, bill.platform_id).counterpart_name == "Janus Trading (vendor)"
    assert provider.get_document(RECEIVABLE, invoice.platform_id).counterpart_name == "Janus Trading"

    vendor_only = OutgoingCounterpart(id="v", name="Later Customer", is_customer=False, is_vendor=True)
    first = provider.push_counterpart(vendor_only, later_key := key(), None)
    grown = provider.push_counterpart(dataclasses.replace(vendor_only, is_customer=True), later_key, first.platform_id)
    assert grown.platform_id.startswith(first.platform_id + ",customer:")
    assert any(o["DisplayName"] == "Later Customer (customer)" for o in quickbooks_raw.state(gb.realm_id, "Customer"))

    made = quickbooks_raw.api(gb.company, "POST", "/vendor", json={"DisplayName": "Adopted Supplies"})
    made.raise_for_status()
    adopted = provider.push_counterpart(OutgoingCounterpart(id="a", name="Adopted Supplies", is_customer=False,
                                                            is_vendor=True), adopt_key := key(), None)
    assert adopted.platform_id == f"vendor:{made.json()['Vendor']['Id']}" and not adopted.created
    marked = next(o for o in quickbooks_raw.state(gb.realm_id, "Vendor") if o["DisplayName"] == "Adopted Supplies")
    assert f"[booksync:{adopt_key}]" in marked["Notes"]
    with pytest.raises(DataError) as clash:
        provider.push_counterpart(OutgoingCounterpart(id="b", name="Adopted Supplies", is_customer=False,
                                                      is_vendor=True), key(), None)
    assert clash.value.field == "name" and "another counterpart" in clash.value.message

    taken = quickbooks_raw.api(gb.company, "POST", "/customer", json={"DisplayName": "Shared Name Ltd"})
    taken.raise_for_status()
    with pytest.raises(DataError) as duplicate:
        provider.push_counterpart(OutgoingCounterpart(id="c", name="Shared Name Ltd", is_customer=False,
                                                      is_vendor=True), key(), None)
    assert duplicate.value.field == "name" and "unique" in duplicate.value.message
    with pytest.raises(DataError) as colon:
        provider.push_counterpart(OutgoingCounterpart(id="d", name="Parent: Child", is_customer=True,
                                                      is_vendor=False), key(), None)
    assert colon.value.field == "name"


def test_invoice_lines_sell_the_default_item_or_one_posting_to_the_lines_account(
    quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw
) -> None:
    books = Books(quickbooks_sandbox, quickbooks_raw.new_company("Items UK Ltd", country="GB", currency="USD"))
    items = books.company.seeded["items"]
    accounts = books.company.seeded["accounts"]

    def item_of(provider: QuickBooksProvider, **fields: Any) -> str:
        pushed = provider.push_document(document(RECEIVABLE, books.customer(), line(rate=2000, **fields)), key(), None)
        held = next(o for o in quickbooks_raw.state(books.realm_id, "Invoice") if o["Id"] == pushed.platform_id)
        return str(held["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"])

    with books.provider() as provider:
        assert item_of(provider) == items["services"], "the company's own default (Preferences)"
        assert item_of(provider, ledger_account_id=accounts["services"]) == items["services"]
        with pytest.raises(DataError) as no_item:
            item_of(provider, ledger_account_id=accounts["sales"])
        assert no_item.value.field == "lines[0].ledger_account_id"
    with books.provider(settings={"default_item_id": items["consulting"]}) as provider:
        assert item_of(provider) == items["consulting"], "the connection's setting"
    quickbooks_raw.update(books.company, "Item", items["services"], Active=False)
    with books.provider() as provider:
        created = item_of(provider)
    made = next(o for o in quickbooks_raw.state(books.realm_id, "Item") if o["Id"] == created)
    assert made["Name"] == "Services (booksync)" and made["Type"] == "Service", "found none usable: created one"


def test_a_currency_the_company_cannot_use_is_refused(quickbooks_sandbox: SandboxInfo,
                                                      quickbooks_raw: QuickBooksRaw) -> None:
    books = Books(quickbooks_sandbox, quickbooks_raw.new_company("Pounds Only Ltd", country="GB"))
    with books.provider() as provider, pytest.raises(DataError) as caught:
        provider.push_document(document(PAYABLE, books.vendor(), line(rate=2000), currency="USD"), key(), None)
    assert caught.value.field == "currency" and "multicurrency is off" in caught.value.message
