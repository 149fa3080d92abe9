"""An accounting system in this process's memory: the ``memory`` platform, for the engine's tests and benchmarks.

It passes the provider contract suite, so the engine's failure modes can be tested without a server:
latency on every call, armed failures, poison documents, refused contacts and answers lost after a
write (see ``sandboxes.memory.books.Faults``). Settings: ``{"books": "<name>"}`` names the process-wide
books; ``max_batch`` how many documents one push takes; ``products`` / ``payments`` false make it a
system that takes none (``supports_products`` / ``supports_payments``). It is registered only when this module is
imported (tests and benchmarks do): production knows no ``memory`` platform.

``transport``, when given, is called with a small request after every write has been applied, the
way the contract suite's fault injectors cut a real provider's answer off after the server committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from config.secrets import Credentials
from providers.base import AccountingProvider, CredentialStore
from providers.errors import AuthenticationError, DataError, NotFoundError, RetryableError
from providers.http import transport_error
from providers.registry import register
from providers.types import (
    ConnectionCheck,
    Document,
    DocumentKind,
    DocumentTotals,
    LedgerAccount,
    OutgoingCounterpart,
    OutgoingDocument,
    OutgoingPayment,
    OutgoingProduct,
    Page,
    PushOutcome,
    PushRequest,
    PushResult,
    TaxComponent,
    TaxRate,
)
from sandboxes.memory.books import ACCOUNTS, TAX_RATES, Invoice, MemoryBooks

PASSWORD = "memory-password"
STATUS = {"draft": "draft", "posted": "open", "void": "void"}


@register("memory")
class MemoryProvider(AccountingProvider):
    display_name = "the memory books"
    supports_update = True
    supports_products = True
    supports_payments = True
    listed = False

    def __init__(
        self,
        settings: Mapping[str, Any],
        credentials: Credentials,
        *,
        credential_store: CredentialStore | None = None,
        transport: httpx.BaseTransport | None = None,
        page_size: int | None = None,
    ) -> None:
        super().__init__(settings, credentials, credential_store=credential_store)
        self.validate_settings(settings, credentials)
        self.books = MemoryBooks.named(str(settings["books"]))
        self.page_size = int(page_size or settings.get("page_size") or 100)
        self.max_batch = int(settings.get("max_batch") or 25)  # type: ignore[misc]
        self.post_documents = bool(settings.get("post_documents", False))
        self.supports_products = bool(settings.get("products", True))  # type: ignore[misc]
        self.supports_payments = bool(settings.get("payments", True))  # type: ignore[misc]
        self._transport = transport

    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        if not isinstance(settings.get("books"), str) or not settings["books"]:
            raise DataError("books must name the memory books", field="books")

    def _call(self) -> None:
        self.books.call()
        if self.credentials.get("password") not in (None, PASSWORD):
            raise AuthenticationError("the memory books refused the password")

    def _answer(self, what: str) -> None:
        """After a write was applied: the answer is lost if a fault says so, or if the wire drops it."""
        if self.books.answer_lost(what):
            raise RetryableError("the memory books' answer was lost", details={"error": "lost"})
        if self._transport is not None:
            request = httpx.Request("POST", f"http://memory.invalid/{what}", content=json.dumps({"what": what}))
            try:
                self._transport.handle_request(request).close()
            except httpx.TransportError as exc:
                raise transport_error(exc, provider="the memory books") from exc

    # -- connection ------------------------------------------------------------------------------
    def check(self) -> ConnectionCheck:
        self._call()
        return ConnectionCheck(organization_name=f"Memory books {self.books.name}", books_id=f"memory:{self.books.name}",
                               details={"currency": "USD"})

    # -- pull ------------------------------------------------------------------------------------
    def list_tax_rates(self) -> Iterator[TaxRate]:
        self._call()
        for platform_id, (name, rate) in TAX_RATES.items():
            yield TaxRate(platform_id, name, rate, components=(TaxComponent(name, rate),))

    def list_ledger_accounts(self) -> Iterator[LedgerAccount]:
        self._call()
        for code, (name, kind) in ACCOUNTS.items():
            yield LedgerAccount(code, name, kind, nominal_code=code)

    def _document(self, invoice: Invoice) -> Document:
        subtotal, tax, total, amounts = MemoryBooks.totals(invoice)
        contact = self.books.contacts.get(invoice.counterpart_id)
        due = self.books.due(invoice)
        status = STATUS.get(invoice.status, invoice.status)
        if status == "open" and due < total:
            status = "paid" if due == 0 else "partially_paid"
        return Document(
            kind=invoice.kind, platform_id=invoice.id, currency=invoice.currency, total_amount=total,
            status=status, document_number=invoice.number,
            counterpart_platform_id=invoice.counterpart_id, counterpart_name=contact.name if contact else None,
            subtotal=subtotal, tax_amount=tax, amount_due=due,
            issue_date=invoice.issue_date, memo=invoice.memo,  # type: ignore[arg-type]
            lines=tuple(
                line.__class__(line.description, line.quantity, line.unit_price, amount, line.tax_rate_value,
                               next((i for i, (_, r) in TAX_RATES.items() if r == line.tax_rate_value), None),
                               line.ledger_account_id, line.product_platform_id)
                for line, amount in zip(invoice.lines, amounts, strict=True)
            ),
            updated_at=invoice.updated_at,
        )

    def iter_documents(
        self, kind: DocumentKind, cursor: str | None, *, lag_seconds: float = 0.0
    ) -> Iterator[Page[Document]]:
        """Ordered by (updated_at, id); the cursor is the last (updated_at, id) read."""
        after: tuple[str, int] | None = tuple(json.loads(cursor)) if cursor else None  # type: ignore[assignment]
        if after is not None and lag_seconds:
            from datetime import datetime, timedelta

            after = ((datetime.fromisoformat(after[0]) - timedelta(seconds=lag_seconds)).isoformat(), 0)
        while True:
            self._call()
            with self.books.lock:
                rows = sorted(
                    (i for i in self.books.invoices.values() if i.kind is kind and not i.deleted
                     and (after is None or (i.updated_at.isoformat(), int(i.id)) > after)),
                    key=lambda i: (i.updated_at, int(i.id)),
                )[: self.page_size + 1]
            page, more = rows[: self.page_size], len(rows) > self.page_size
            if not page:
                return
            after = (page[-1].updated_at.isoformat(), int(page[-1].id))
            yield Page([self._document(i) for i in page], json.dumps(after))
            if not more:
                return

    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        self._call()
        with self.books.lock:
            ids = [i.id for i in self.books.invoices.values() if i.kind is kind and not i.deleted]
        yield from ids

    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        self._call()
        invoice = self.books.invoices.get(platform_id)
        if invoice is None or invoice.kind is not kind or invoice.deleted:
            raise NotFoundError(f"the memory books have no {kind.value} {platform_id}")
        return self._document(invoice)

    # -- push ------------------------------------------------------------------------------------
    def push_counterpart(
        self, counterpart: OutgoingCounterpart, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        self._call()
        if platform_id is not None:
            if platform_id not in self.books.contacts:
                raise NotFoundError(f"the memory books have no contact {platform_id}")
            contact = self.books.save_contact(counterpart.name, key, platform_id)
            self._answer("contacts")
            return PushResult(contact.id, contact.updated_at, created=False)
        with self.books.lock:
            found = next((c for c in self.books.contacts.values() if c.key == key), None)
        if found is not None:
            return PushResult(found.id, found.updated_at, created=False)
        contact = self.books.save_contact(counterpart.name, key)
        self._answer("contacts")
        return PushResult(contact.id, contact.updated_at, created=True)

    def push_document(
        self, document: OutgoingDocument, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        (outcome,) = self.push_documents([PushRequest(document, key, platform_id, may_exist=may_exist)])
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None
        return outcome.result

    def push_documents(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        """One call for the batch: looks up the keys that may exist, then writes each document."""
        self._call()
        results: list[PushOutcome] = []
        for request in requests:
            target = request.platform_id
            created = False
            try:
                if target is None and request.may_exist:
                    found = self._find(request.item.kind, request.key)
                    if found is not None and found.status != "draft":
                        results.append(PushOutcome(request.key, result=self._result(found, False)))
                        continue
                    target = found.id if found is not None else None
                if target is not None and (target not in self.books.invoices or self.books.invoices[target].deleted):
                    raise NotFoundError(f"the memory books have no {request.item.kind.value} {target}")
                invoice = self.books.save_invoice(request.item, request.key, target)
                created = target is None
                if self.post_documents and invoice.status == "draft":
                    invoice.status = "posted"
            except (DataError, NotFoundError) as exc:
                results.append(PushOutcome(request.key, error=exc))
                continue
            # any other error (a poison document's server error) ends the call: the answers of the
            # writes before it are lost with it, as when a server fails halfway through a batch
            results.append(PushOutcome(request.key, result=self._result(invoice, created)))
        self._answer("invoices")
        yield from results

    def _result(self, invoice: Invoice, created: bool) -> PushResult:
        subtotal, tax, total, amounts = MemoryBooks.totals(invoice)
        return PushResult(invoice.id, invoice.updated_at, created, DocumentTotals(subtotal, tax, total, amounts))

    def _find(self, kind: DocumentKind, key: str) -> Invoice | None:
        with self.books.lock:
            self.books.lookups += 1
            return next((i for i in self.books.invoices.values() if i.key == key and i.kind is kind), None)

    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        self._call()
        found = self._find(kind, key)
        return self._result(found, False) if found is not None else None

    def void_document(self, kind: DocumentKind, platform_id: str) -> None:
        self._call()
        invoice = self.books.invoices.get(platform_id)
        if invoice is None or invoice.deleted:
            raise NotFoundError(f"the memory books have no {kind.value} {platform_id}")
        with self.books.lock:
            invoice.status, invoice.updated_at = "void", self.books.now()

    # -- products and payments ---------------------------------------------------------------------
    def push_products(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        """One call for the batch: an item is found by its key (or updated by its id), else created."""
        if not self.supports_products:
            yield from super().push_products(requests)
            return
        self._call()
        results: list[PushOutcome] = []
        for request in requests:
            try:
                target = request.platform_id
                if target is not None and target not in self.books.items:
                    raise NotFoundError(f"the memory books have no item {target}")
                if target is None:
                    with self.books.lock:
                        found = next((i for i in self.books.items.values() if i.key == request.key), None)
                    target = found.id if found is not None else None
                created = target is None
                item = self.books.save_item(request.item, request.key, target)
            except (DataError, NotFoundError) as exc:
                results.append(PushOutcome(request.key, error=exc))
                continue
            results.append(PushOutcome(request.key, result=PushResult(item.id, item.updated_at, created=created)))
        self._answer("items")
        yield from results

    def push_product(
        self, product: OutgoingProduct, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        (outcome,) = self.push_products([PushRequest(product, key, platform_id, may_exist=may_exist)])
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None
        return outcome.result

    def push_payments(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        """One call for the batch: the keys that may exist are looked up, then each payment is recorded."""
        if not self.supports_payments:
            yield from super().push_payments(requests)
            return
        self._call()
        results: list[PushOutcome] = []
        for request in requests:
            if request.may_exist:
                with self.books.lock:
                    self.books.lookups += 1
                    found = next((p for p in self.books.payments.values() if p.key == request.key), None)
                if found is not None:
                    results.append(PushOutcome(request.key, result=PushResult(found.id, found.updated_at, created=False)))
                    continue
            try:
                payment = self.books.save_payment(request.item, request.key)
            except (DataError, NotFoundError) as exc:
                results.append(PushOutcome(request.key, error=exc))
                continue
            results.append(PushOutcome(request.key, result=PushResult(payment.id, payment.updated_at, created=True)))
        self._answer("payments")
        yield from results

    def push_payment(
        self, payment: OutgoingPayment, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        (outcome,) = self.push_payments([PushRequest(payment, key, platform_id, may_exist=may_exist)])
        if outcome.error is not None:
            raise outcome.error
        assert outcome.result is not None
        return outcome.result

    def delete_payment(self, kind: DocumentKind, platform_id: str) -> None:
        if not self.supports_payments:
            super().delete_payment(kind, platform_id)
        self._call()
        self.books.delete_payment(platform_id)
