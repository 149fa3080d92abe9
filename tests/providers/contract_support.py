"""What the contract suite needs besides fixtures: the backend protocol and a fault injector.

A separate module (not conftest) so test modules can import it by a name no other folder uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from providers.base import AccountingProvider
from providers.types import DocumentKind


@dataclass(frozen=True)
class HeldLine:
    description: str
    total: int
    tax_rate_value: int | None


@dataclass(frozen=True)
class HeldDocument:
    """A document as the accounting system holds it, in the contract's units."""

    platform_id: str
    document_number: str | None
    reference: str | None
    counterpart_platform_id: str
    counterpart_name: str
    currency: str
    total_amount: int
    subtotal: int
    tax_amount: int
    issue_date: Any
    lines: tuple[HeldLine, ...]


class ContractBackend(Protocol):
    platform: str

    def provider(
        self,
        *,
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
        post_documents: bool = False,
    ) -> AccountingProvider: ...

    def provider_with_wrong_credentials(self) -> AccountingProvider: ...

    def provider_unreachable(self) -> AccountingProvider: ...

    def held_documents(self, kind: DocumentKind) -> dict[str, HeldDocument]: ...

    def held_tax_rates(self) -> dict[str, int]: ...

    def seeded_numbers(self, kind: DocumentKind) -> set[str]: ...

    def count_with_number(self, kind: DocumentKind, number: str) -> int: ...

    def document_count(self) -> int: ...

    def counterpart_count(self) -> int: ...

    def change_document(self, kind: DocumentKind, platform_id: str) -> None: ...

    def changeable_document(self, kind: DocumentKind) -> str: ...

    def counterpart_for(self, kind: DocumentKind) -> str: ...

    def existing_tax_rate(self) -> int: ...

    def missing_tax_rate(self) -> int: ...

    def network_transport(self) -> httpx.BaseTransport: ...

    def is_document_create(self, request: httpx.Request) -> bool: ...


@dataclass(frozen=True)
class HeldProduct:
    """A product as the accounting system holds it, in the contract's units."""

    platform_id: str
    name: str
    type: str  #: "product" or "service"
    unit_price: int | None


@dataclass(frozen=True)
class HeldPayment:
    """A payment recorded against a document, as the accounting system holds it."""

    platform_id: str
    amount: int
    account: str  #: the ledger account the money left or reached, by the system's id


class PaymentsBackend(ContractBackend, Protocol):
    """What the products-and-payments suite (``test_payments_products.py``) asks of a backend besides the
    contract's: an oracle reading the system directly."""

    def held_products(self) -> dict[str, HeldProduct]: ...

    def held_line_products(self, kind: DocumentKind, platform_id: str) -> list[str | None]: ...

    def held_payments(self, kind: DocumentKind, platform_id: str) -> list[HeldPayment]: ...

    def held_amount_due(self, kind: DocumentKind, platform_id: str) -> int: ...

    def payment_account(self) -> str:
        """An account payments can be recorded on that is not the system's default one."""
        ...

    def other_currency(self) -> str:
        """A currency the system knows that is not its documents' (USD)."""
        ...

    def is_payment_record(self, request: httpx.Request) -> bool:
        """Whether ``request`` is the call that records a payment (to cut its answer off)."""
        ...


class CutOffAfterForwarding(httpx.BaseTransport):
    """Forwards a matching request to the server, then loses the answer (raises ReadTimeout) once."""

    def __init__(self, inner: httpx.BaseTransport, matches: Callable[[httpx.Request], bool]) -> None:
        self.inner = inner
        self.matches = matches
        self.cut = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not self.cut and self.matches(request):
            response.read()
            response.close()
            self.cut += 1
            raise httpx.ReadTimeout("the answer was lost on the way back", request=request)
        return response

    def close(self) -> None:
        self.inner.close()
