"""Backends for the provider contract suite: a provider factory plus an oracle on the real system.

``test_contract.py`` only talks to a ``ContractBackend``. To run the suite against another adapter
(Xero against a mock server, say), add a ``<platform>_backend`` fixture returning an object with the
same methods and add the platform to ``CONTRACT_PLATFORMS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from config.secrets import Credentials
from deploy.tryton.sandbox import SandboxInfo, free_port
from providers.base import AccountingProvider
from providers.registry import provider_class
from providers.types import DocumentKind
from tests.conftest_tryton import TrytonRaw, tryton_raw, tryton_sandbox, tryton_template  # noqa: F401
from tests.providers.contract_support import ContractBackend, HeldDocument, HeldLine

CONTRACT_PLATFORMS = ["tryton"]


class TrytonBackend:
    platform = "tryton"

    def __init__(self, info: SandboxInfo, raw: TrytonRaw) -> None:
        self.info = info
        self.raw = raw
        self.seed = info.seed()

    def provider(
        self,
        *,
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
        post_documents: bool = False,
    ) -> AccountingProvider:
        cls = provider_class("tryton")
        settings = {**self.info.settings, "post_documents": post_documents}
        credentials = Credentials(self.info.credentials)
        return cls(settings, credentials, page_size=page_size, transport=transport)  # type: ignore[call-arg]

    def provider_with_wrong_credentials(self) -> AccountingProvider:
        return provider_class("tryton")(
            self.info.settings, Credentials(username=self.info.username, password="not-the-password")
        )

    def provider_unreachable(self) -> AccountingProvider:
        settings = {"url": f"http://127.0.0.1:{free_port()}", "database": self.info.database}
        return provider_class("tryton")(settings, Credentials(self.info.credentials))

    def held_documents(self, kind: DocumentKind) -> dict[str, HeldDocument]:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        invoices = self.raw.search_read(
            "account.invoice",
            [["type", "=", invoice_type]],
            ["id", "number", "reference", "party", "party.name", "currency.code", "currency.digits",
             "untaxed_amount", "tax_amount", "total_amount", "invoice_date"],
        )
        rates = {t["id"]: t["rate"] for t in self.raw.search_read("account.tax", [], ["rate"])}
        lines = self.raw.search_read(
            "account.invoice.line",
            [["invoice", "in", [i["id"] for i in invoices]]],
            ["invoice", "description", "amount", "taxes"],
            [["invoice", "ASC"], ["sequence", "ASC NULLS FIRST"], ["id", "ASC"]],
        )
        held = {}
        for invoice in invoices:
            scale = Decimal(10) ** invoice["currency."]["digits"]
            own = [
                HeldLine(
                    line["description"],
                    int(line["amount"] * scale),
                    int(sum(rates[t] for t in line["taxes"]) * 10000) if line["taxes"] else None,
                )
                for line in lines
                if line["invoice"] == invoice["id"]
            ]
            number, reference = invoice["number"], invoice["reference"]
            held[str(invoice["id"])] = HeldDocument(
                platform_id=str(invoice["id"]),
                document_number=reference if invoice_type == "in" else number,
                reference=number if invoice_type == "in" else reference,
                counterpart_platform_id=str(invoice["party"]),
                counterpart_name=invoice["party."]["name"],
                currency=invoice["currency."]["code"],
                total_amount=int(invoice["total_amount"] * scale),
                subtotal=int(invoice["untaxed_amount"] * scale),
                tax_amount=int(invoice["tax_amount"] * scale),
                issue_date=invoice["invoice_date"],
                lines=tuple(own),
            )
        return held

    def held_tax_rates(self) -> dict[str, int]:
        taxes = self.raw.search_read("account.tax", [["parent", "=", None]], ["rate", "type"])
        return {str(t["id"]): int((t["rate"] or 0) * 10000) for t in taxes if t["type"] == "percentage"}

    def seeded_numbers(self, kind: DocumentKind) -> set[str]:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        return {invoice["reference"] for invoice in self.seed["invoices"][invoice_type]}

    def count_with_number(self, kind: DocumentKind, number: str) -> int:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        return int(
            self.raw.model("account.invoice", "search_count", [["type", "=", invoice_type], ["reference", "=", number]])
        )

    def document_count(self) -> int:
        return int(self.raw.model("account.invoice", "search_count", []))

    def counterpart_count(self) -> int:
        return int(self.raw.model("party.party", "search_count", []))

    def changeable_document(self, kind: DocumentKind) -> str:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        draft = next(i for i in self.seed["invoices"][invoice_type] if not i["posted"])
        return str(draft["id"])

    def change_document(self, kind: DocumentKind, platform_id: str) -> None:
        self.raw.model("account.invoice", "write", [int(platform_id)], {"description": f"changed {platform_id}"})

    def counterpart_for(self, kind: DocumentKind) -> str:
        return str(self.seed["supplier" if kind is DocumentKind.PAYABLE else "customer"]["id"])

    def existing_tax_rate(self) -> int:
        return 2000

    def missing_tax_rate(self) -> int:
        return 1900

    def network_transport(self) -> httpx.BaseTransport:
        return httpx.HTTPTransport()

    def is_document_create(self, request: httpx.Request) -> bool:
        try:
            return json.loads(request.content)["method"] == "model.account.invoice.create"
        except (ValueError, KeyError):
            return False


@pytest.fixture(scope="module")
def tryton_backend(tryton_sandbox: SandboxInfo, tryton_raw: TrytonRaw) -> TrytonBackend:
    return TrytonBackend(tryton_sandbox, tryton_raw)


@pytest.fixture(params=CONTRACT_PLATFORMS)
def backend(request: pytest.FixtureRequest) -> ContractBackend:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def provider(backend: ContractBackend) -> Iterator[AccountingProvider]:
    with backend.provider() as instance:
        yield instance
