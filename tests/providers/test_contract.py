"""The contract every adapter passes, run against the real system behind each backend."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

import pytest

from providers.base import AccountingProvider
from providers.errors import AuthenticationError, DataError, NotFoundError, RetryableError
from providers.types import Document, DocumentKind, LineItem, OutgoingCounterpart, OutgoingDocument

from tests.providers.contract_support import ContractBackend, CutOffAfterForwarding, HeldDocument, HeldLine

KINDS = [DocumentKind.PAYABLE, DocumentKind.RECEIVABLE]


def held_view(document: Document) -> HeldDocument:
    assert document.counterpart_platform_id is not None
    assert document.subtotal is not None and document.tax_amount is not None
    return HeldDocument(
        platform_id=document.platform_id,
        document_number=document.document_number,
        reference=document.reference,
        counterpart_platform_id=document.counterpart_platform_id,
        counterpart_name=document.counterpart_name or "",
        currency=document.currency,
        total_amount=document.total_amount,
        subtotal=document.subtotal,
        tax_amount=document.tax_amount,
        issue_date=document.issue_date,
        lines=tuple(HeldLine(line.description, line.total or 0, line.tax_rate_value) for line in document.lines),
    )


def outgoing(
    backend: ContractBackend, kind: DocumentKind, *, quantity: str = "2", tax_rate_value: int | None = None
) -> OutgoingDocument:
    return OutgoingDocument(
        kind=kind,
        id=str(uuid.uuid4()),
        counterpart_platform_id=backend.counterpart_for(kind),
        currency="USD",
        document_number=f"T-{uuid.uuid4().hex[:10]}",
        issue_date=dt.date.today(),
        memo="pushed by the contract suite",
        lines=(
            LineItem(
                description="Standing desk",
                quantity=Decimal(quantity),
                unit_price=12_345,
                tax_rate_value=backend.existing_tax_rate() if tax_rate_value is None else tax_rate_value,
            ),
        ),
    )


def pull_all(
    provider: AccountingProvider, kind: DocumentKind, cursor: str | None = None
) -> tuple[list[Document], str | None]:
    documents: list[Document] = []
    for page in provider.iter_documents(kind, cursor):
        documents.extend(page.items)
        cursor = page.next_cursor
    return documents, cursor


# -- pull ---------------------------------------------------------------------------------------


def test_tax_rates_are_the_systems(backend: ContractBackend, provider: AccountingProvider) -> None:
    rates = {rate.platform_id: rate.effective_tax_rate for rate in provider.list_tax_rates()}
    assert rates == backend.held_tax_rates()
    assert backend.existing_tax_rate() in rates.values()


def test_ledger_accounts_are_listed(provider: AccountingProvider) -> None:
    accounts = list(provider.list_ledger_accounts())
    assert accounts
    assert len({a.platform_id for a in accounts}) == len(accounts)
    assert {"Asset", "Liability", "Income", "Expense"} <= {a.type for a in accounts}


@pytest.mark.parametrize("kind", KINDS)
def test_pull_returns_exactly_what_the_system_holds_page_by_page(backend: ContractBackend, kind: DocumentKind) -> None:
    with backend.provider(page_size=2) as provider:
        pages = list(provider.iter_documents(kind, None))
    assert len(pages) >= 2
    assert all(len(page.items) == 2 for page in pages[:-1])
    assert all(page.next_cursor for page in pages)
    documents = [document for page in pages for document in page.items]
    assert {d.kind for d in documents} == {kind}
    pulled = {d.platform_id: held_view(d) for d in documents}
    assert len(pulled) == len(documents), "a document came twice"
    assert pulled == backend.held_documents(kind)
    numbers = {d.document_number for d in documents} | {d.reference for d in documents}
    assert backend.seeded_numbers(kind) <= numbers
    assert all(d.updated_at is not None and d.updated_at.tzinfo is not None for d in documents)


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_pull_returns_only_the_change(backend: ContractBackend, kind: DocumentKind) -> None:
    with backend.provider(page_size=2) as provider:
        _, cursor = pull_all(provider, kind)
        assert cursor is not None
        assert pull_all(provider, kind, cursor)[0] == []

        changed = backend.changeable_document(kind)
        backend.change_document(kind, changed)
        documents, cursor = pull_all(provider, kind, cursor)
        assert [d.platform_id for d in documents] == [changed]

        pushed = provider.push_document(outgoing(backend, kind), f"inc-{uuid.uuid4()}", None)
        documents, cursor = pull_all(provider, kind, cursor)
        assert [d.platform_id for d in documents] == [pushed.platform_id]
        assert pull_all(provider, kind, cursor)[0] == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_document_id_is_listed(
    backend: ContractBackend, provider: AccountingProvider, kind: DocumentKind
) -> None:
    assert sorted(provider.iter_document_ids(kind)) == sorted(backend.held_documents(kind))


def test_get_document_and_not_found(backend: ContractBackend, provider: AccountingProvider) -> None:
    held = backend.held_documents(DocumentKind.PAYABLE)
    some = sorted(held)[0]
    assert held_view(provider.get_document(DocumentKind.PAYABLE, some)) == held[some]
    with pytest.raises(NotFoundError):
        provider.get_document(DocumentKind.PAYABLE, "987654")
    # A receivable's id is no payable's: asked as a payable it is not found (QuickBooks numbers bills and
    # invoices apart, so the id is one that names no bill).
    receivable = next(pid for pid in sorted(backend.held_documents(DocumentKind.RECEIVABLE)) if pid not in held)
    with pytest.raises(NotFoundError):
        provider.get_document(DocumentKind.PAYABLE, receivable)


# -- push ---------------------------------------------------------------------------------------


def test_pushing_a_counterpart_twice_creates_one(backend: ContractBackend, provider: AccountingProvider) -> None:
    before = backend.counterpart_count()
    counterpart = OutgoingCounterpart(
        id=str(uuid.uuid4()), name=f"Vendor {uuid.uuid4().hex[:6]}", is_customer=False, is_vendor=True,
        email="ap@example.com",
    )
    key = f"cp-{uuid.uuid4()}"
    first = provider.push_counterpart(counterpart, key, None)
    second = provider.push_counterpart(counterpart, key, None)
    assert first.created and not second.created
    assert first.platform_id == second.platform_id
    assert backend.counterpart_count() == before + 1


@pytest.mark.parametrize("kind", KINDS)
def test_pushing_the_same_document_twice_creates_one(
    backend: ContractBackend, provider: AccountingProvider, kind: DocumentKind
) -> None:
    document = outgoing(backend, kind)
    key = f"twice-{uuid.uuid4()}"
    first = provider.push_document(document, key, None)
    second = provider.push_document(document, key, None)
    assert first.created and not second.created
    assert second.platform_id == first.platform_id
    assert backend.count_with_number(kind, document.document_number or "") == 1
    found = provider.find_pushed(kind, key)
    assert found is not None and found.platform_id == first.platform_id
    assert provider.find_pushed(kind, f"never-{uuid.uuid4()}") is None
    held = backend.held_documents(kind)[first.platform_id]
    assert held.total_amount == 29_628 and held.tax_amount == 4_938  # 2 x 123.45 + 20%


def test_push_retried_after_the_answer_was_lost_creates_one(backend: ContractBackend) -> None:
    kind = DocumentKind.PAYABLE
    document = outgoing(backend, kind)
    key = f"lost-{uuid.uuid4()}"
    cutter = CutOffAfterForwarding(backend.network_transport(), backend.is_document_create)
    with backend.provider(transport=cutter) as provider:
        with pytest.raises(RetryableError):
            provider.push_document(document, key, None)
        assert cutter.cut == 1
        assert backend.count_with_number(kind, document.document_number or "") == 1
        retried = provider.push_document(document, key, None)
    assert not retried.created
    assert backend.count_with_number(kind, document.document_number or "") == 1
    with backend.provider() as fresh:
        again = fresh.push_document(document, key, None)
    assert again.platform_id == retried.platform_id
    assert backend.count_with_number(kind, document.document_number or "") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_tax_rate_the_system_lacks_is_a_data_error_and_nothing_is_created(
    backend: ContractBackend, provider: AccountingProvider, kind: DocumentKind
) -> None:
    missing = backend.missing_tax_rate()
    document = outgoing(backend, kind, tax_rate_value=missing)
    documents, counterparts = backend.document_count(), backend.counterpart_count()
    with pytest.raises(DataError) as caught:
        provider.push_document(document, f"tax-{uuid.uuid4()}", None)
    percent = f"{Decimal(missing) / 100:f}".rstrip("0").rstrip(".")
    assert f"tax rate {percent}% does not exist in the accounting system" in caught.value.message
    assert caught.value.field == "lines[0].tax_rate_value"
    assert caught.value.value == missing
    assert backend.document_count() == documents
    assert backend.counterpart_count() == counterparts


def test_updating_a_draft_changes_the_same_document(backend: ContractBackend, provider: AccountingProvider) -> None:
    kind = DocumentKind.PAYABLE
    document = outgoing(backend, kind)
    key = f"upd-{uuid.uuid4()}"
    created = provider.push_document(document, key, None)
    changed = dataclasses.replace(document, lines=outgoing(backend, kind, quantity="3").lines, memo="changed")
    updated = provider.push_document(changed, key, created.platform_id)
    assert updated.platform_id == created.platform_id and not updated.created
    held = backend.held_documents(kind)[created.platform_id]
    assert held.subtotal == 3 * 12_345
    assert held.document_number == document.document_number
    assert backend.count_with_number(kind, document.document_number or "") == 1


def test_updating_a_posted_document_is_a_data_error(backend: ContractBackend) -> None:
    """Where the system has drafts; where it has none (``has_drafts = False``), a posted document is updated."""
    kind = DocumentKind.PAYABLE
    document = outgoing(backend, kind)
    key = f"posted-{uuid.uuid4()}"
    with backend.provider(post_documents=True) as provider:
        created = provider.push_document(document, key, None)
        pulled = provider.get_document(kind, created.platform_id)
        assert pulled.status == "open"
        if not getattr(backend, "has_drafts", True):  # QuickBooks: every document is posted and stays changeable
            changed = provider.push_document(outgoing(backend, kind, quantity="5"), key, created.platform_id)
            assert changed.platform_id == created.platform_id and not changed.created
            assert backend.held_documents(kind)[created.platform_id].subtotal == 5 * 12_345
            return
        with pytest.raises(DataError) as caught:
            provider.push_document(outgoing(backend, kind, quantity="5"), key, created.platform_id)
    assert "posted" in caught.value.message
    assert backend.held_documents(kind)[created.platform_id].subtotal == 2 * 12_345


def test_voiding_a_pushed_draft(backend: ContractBackend, provider: AccountingProvider) -> None:
    kind = DocumentKind.RECEIVABLE
    created = provider.push_document(outgoing(backend, kind), f"void-{uuid.uuid4()}", None)
    provider.void_document(kind, created.platform_id)
    assert provider.get_document(kind, created.platform_id).status == "void"
    provider.void_document(kind, created.platform_id)


# -- failures -----------------------------------------------------------------------------------


def test_a_server_nobody_answers_is_retryable(backend: ContractBackend) -> None:
    with backend.provider_unreachable() as provider:
        with pytest.raises(RetryableError):
            provider.check()
        with pytest.raises(RetryableError):
            list(provider.iter_documents(DocumentKind.PAYABLE, None))


def test_check_names_the_organization(provider: AccountingProvider) -> None:
    assert provider.check().organization_name


def test_wrong_credentials_are_an_authentication_error(backend: ContractBackend) -> None:
    """Last in the module: Tryton slows down the next login of a user whose login failed."""
    with backend.provider_with_wrong_credentials() as provider:
        with pytest.raises(AuthenticationError) as caught:
            provider.check()
    assert "not-the-password" not in str(caught.value) and "not-the-password" not in repr(caught.value.to_errors())
