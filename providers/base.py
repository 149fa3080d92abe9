"""The contract every accounting-system adapter implements.

Adapters are registered by platform name (``providers.registry``) and built from a connection's
non-secret ``settings`` and its decrypted ``Credentials``. The engine only ever talks to this class:
it never asks which platform it has.

Pulls stream: ``iter_documents`` yields pages, each with the cursor to resume from once that page is
stored, so memory does not grow with the number of documents. Pushes are idempotent under a key: a
push with a key that already created something returns that thing instead of creating it again.

Pushes come in batches (``push_counterparts`` / ``push_documents``): many requests in, one outcome per
request out, yielded as each is known, with what concerns one object alone (a ``DataError``, a
``NotFoundError``) as that outcome's error rather than an exception. A provider that takes many
documents per call (Xero, QuickBooks' batch endpoint, Tryton's ``create``) overrides them and says so
in ``max_batch``; the defaults push one at a time. A retryable or authentication error raised by the
iterator ends the batch: outcomes already yielded stand, the rest are unknown (the engine looks their
keys up before trying again).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from config.secrets import Credentials
from providers.errors import DataError, NotFoundError
from providers.types import (
    ConnectionCheck,
    Document,
    DocumentKind,
    LedgerAccount,
    OutgoingCounterpart,
    OutgoingDocument,
    OutgoingPayment,
    OutgoingProduct,
    Page,
    PushOutcome,
    PushRequest,
    PushResult,
    TaxRate,
)


class CredentialStore(Protocol):
    """Where a provider's rotating credentials (OAuth tokens) live: the engine's, never the provider's."""

    def refresh(self, stale: Credentials, refresh: Callable[[Credentials], Credentials]) -> Credentials:
        """Run ``refresh`` as the connection's only refresher across all workers, store (commit) what it
        returns before returning it, and hold no database transaction while it runs. When another worker
        refreshed meanwhile (the stored credentials are no longer ``stale``), return those instead."""
        ...


class AccountingProvider(abc.ABC):
    platform: ClassVar[str]
    #: How people name the system in messages ("Tryton", "Xero", "QuickBooks Online").
    display_name: ClassVar[str] = "the accounting system"
    #: Whether a pushed document can still be changed (Tryton drafts, Xero DRAFT/AUTHORISED...).
    supports_update: ClassVar[bool] = True
    #: Whether ``revoke`` does anything at the provider.
    supports_revoke: ClassVar[bool] = False
    #: Whether the platform's connection starts with an OAuth consent (answers ``pending_auth``).
    uses_oauth: ClassVar[bool] = False
    #: How many documents one ``push_documents`` call is worth giving at once.
    max_batch: ClassVar[int] = 1
    #: Whether ``providers.registry.platforms()`` lists it (in-process stand-ins for tests are not).
    listed: ClassVar[bool] = True
    #: Whether it takes products and payment records (``push_products`` / ``push_payments``).
    supports_products: ClassVar[bool] = False
    supports_payments: ClassVar[bool] = False

    def __init__(
        self,
        settings: Mapping[str, Any],
        credentials: Credentials,
        *,
        credential_store: CredentialStore | None = None,
    ) -> None:
        """``credential_store`` keeps rotated tokens; it stores them *before* they are used."""
        self.settings = dict(settings)
        self.credentials = credentials
        self.credential_store = credential_store

    # -- connection --------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        """Raise DataError naming the field if what a connection was created with cannot work."""

    @classmethod
    def rate_limit_budget(cls, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the shared rate limiter knows of this connection's call budget (what the provider last
        reported as remaining, calls in flight, any block after a 429), or None for a provider without
        limits. Read from the limiter's store, never from the provider: it costs no call."""
        return None

    @abc.abstractmethod
    def check(self) -> ConnectionCheck:
        """A cheap authenticated call: proves the credentials work."""

    def revoke(self) -> None:
        """Revoke access at the provider, where it supports that."""

    def warnings(self) -> list[str]:
        """What a person should act on before it stops the syncs (an authorization about to end for good), in
        words for them; the engine shows these on the connection (its ``errors``) after a sync that succeeded."""
        return []

    def close(self) -> None:
        """Release HTTP clients."""

    def __enter__(self) -> AccountingProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pull ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def list_tax_rates(self) -> Iterator[TaxRate]: ...

    @abc.abstractmethod
    def list_ledger_accounts(self) -> Iterator[LedgerAccount]: ...

    @abc.abstractmethod
    def iter_documents(
        self, kind: DocumentKind, cursor: str | None, *, lag_seconds: float = 0.0
    ) -> Iterator[Page[Document]]:
        """Documents changed after ``cursor`` (all of them when None), page by page.

        ``lag_seconds`` re-reads that much before the cursor's mark: a change whose timestamp the
        system stamped before a pull passed it but that committed after (Tryton stamps the start of the
        writing transaction) is read then. Documents may therefore come again; the engine upserts them
        by id. A change to a document's lines or to its counterpart counts as a change of the document.
        """

    @abc.abstractmethod
    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        """Every document id that exists now: a full reconcile marks the rest deleted."""

    @abc.abstractmethod
    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        """Raise NotFoundError when it does not exist."""

    # -- push ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def push_counterpart(
        self, counterpart: OutgoingCounterpart, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        """Create (or, with ``platform_id``, update) a contact; idempotent under ``key``."""

    @abc.abstractmethod
    def push_document(
        self, document: OutgoingDocument, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        """Create a bill/invoice, or update ``platform_id`` where the provider allows it.

        With ``may_exist``, look the key up first (``find_pushed``) so a retried push after a lost
        answer does not create a second document. Raise DataError when the document can no longer
        change. The result carries the provider's computed totals.
        """

    def push_counterparts(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        for request in requests:
            try:
                result = self.push_counterpart(
                    request.item, request.key, request.platform_id, may_exist=request.may_exist
                )
            except (DataError, NotFoundError) as exc:
                yield PushOutcome(request.key, error=exc)
            else:
                yield PushOutcome(request.key, result=result)

    def push_documents(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        for request in requests:
            try:
                result = self.push_document(request.item, request.key, request.platform_id, may_exist=request.may_exist)
            except (DataError, NotFoundError) as exc:
                yield PushOutcome(request.key, error=exc)
            else:
                yield PushOutcome(request.key, result=result)

    @abc.abstractmethod
    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        """The document an earlier push under ``key`` created, if any."""

    def void_document(self, kind: DocumentKind, platform_id: str) -> None:
        """Void/cancel a pushed document; a no-op for providers that cannot."""

    # -- products and payments (where ``supports_products`` / ``supports_payments``) -----------
    def push_product(
        self, product: OutgoingProduct, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        """Create (or, with ``platform_id``, update) a product/item; idempotent under ``key``."""
        raise DataError(f"{self.display_name} does not take products from booksync", field="product")

    def push_products(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        for request in requests:
            try:
                result = self.push_product(request.item, request.key, request.platform_id, may_exist=request.may_exist)
            except (DataError, NotFoundError) as exc:
                yield PushOutcome(request.key, error=exc)
            else:
                yield PushOutcome(request.key, result=result)

    def push_payment(
        self, payment: OutgoingPayment, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        """Record a payment against the document it settles; idempotent under ``key``. A payment that
        would overpay its document, or in another currency than it, is a DataError saying so."""
        raise DataError(f"{self.display_name} does not take payments from booksync", field="payment")

    def push_payments(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        for request in requests:
            try:
                result = self.push_payment(request.item, request.key, request.platform_id, may_exist=request.may_exist)
            except (DataError, NotFoundError) as exc:
                yield PushOutcome(request.key, error=exc)
            else:
                yield PushOutcome(request.key, result=result)

    def delete_payment(self, kind: DocumentKind, platform_id: str) -> None:
        """Delete or void a pushed payment (it was deleted on the platform), where the provider allows it;
        a DataError when it does not."""
        raise DataError(f"{self.display_name} cannot delete payments", field="payment")
