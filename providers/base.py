"""The contract every accounting-system adapter implements.

Adapters are registered by platform name (``providers.registry``) and built from a connection's
non-secret ``settings`` and its decrypted ``Credentials``. The engine only ever talks to this class:
it never asks which platform it has.

Pulls stream: ``iter_documents`` yields pages, each with the cursor to resume from once that page is
stored, so memory does not grow with the number of documents. Pushes are idempotent under a key: a
push with a key that already created something returns that thing instead of creating it again.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from config.secrets import Credentials
from providers.types import (
    ConnectionCheck,
    Document,
    DocumentKind,
    LedgerAccount,
    OutgoingCounterpart,
    OutgoingDocument,
    Page,
    PushResult,
    TaxRate,
)

CredentialsSaver = Callable[[Credentials], None]


class AccountingProvider(abc.ABC):
    platform: ClassVar[str]
    #: Whether a pushed document can still be changed (Tryton drafts, Xero DRAFT/AUTHORISED...).
    supports_update: ClassVar[bool] = True
    #: Whether ``revoke`` does anything at the provider.
    supports_revoke: ClassVar[bool] = False
    #: Whether the platform's connection starts with an OAuth consent (answers ``pending_auth``).
    uses_oauth: ClassVar[bool] = False

    def __init__(
        self,
        settings: Mapping[str, Any],
        credentials: Credentials,
        *,
        save_credentials: CredentialsSaver | None = None,
    ) -> None:
        """``save_credentials`` is called with rotated tokens *before* they are used."""
        self.settings = dict(settings)
        self.credentials = credentials
        self._save_credentials = save_credentials

    # -- connection --------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        """Raise DataError naming the field if what a connection was created with cannot work."""

    @abc.abstractmethod
    def check(self) -> ConnectionCheck:
        """A cheap authenticated call: proves the credentials work."""

    def revoke(self) -> None:
        """Revoke access at the provider, where it supports that."""

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
    def iter_documents(self, kind: DocumentKind, cursor: str | None) -> Iterator[Page[Document]]:
        """Documents changed strictly after ``cursor`` (all of them when None), page by page."""

    @abc.abstractmethod
    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        """Every document id that exists now: a full reconcile marks the rest deleted."""

    @abc.abstractmethod
    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        """Raise NotFoundError when it does not exist."""

    # -- push ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def push_counterpart(self, counterpart: OutgoingCounterpart, key: str, platform_id: str | None) -> PushResult:
        """Create (or, with ``platform_id``, update) a contact; idempotent under ``key``."""

    @abc.abstractmethod
    def push_document(self, document: OutgoingDocument, key: str, platform_id: str | None) -> PushResult:
        """Create a bill/invoice, or update ``platform_id`` where the provider allows it.

        Before creating, look the key up (``find_pushed``) so a retried push after a lost answer
        does not create a second document. Raise DataError when the document can no longer change.
        """

    @abc.abstractmethod
    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        """The document an earlier push under ``key`` created, if any."""

    def void_document(self, kind: DocumentKind, platform_id: str) -> None:
        """Void/cancel a pushed document; a no-op for providers that cannot."""
