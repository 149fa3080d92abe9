"""Products as Xero ``Items`` (developer.xero.com/documentation/api/accounting/items).

- **Where the key lives**: the item's ``Code`` is ``booksync-`` and 21 hex digits of the key's SHA-256
  (``mapping.item_code``). ``Code`` is what Xero identifies an item by (unique, 30 characters, what invoice lines
  name in ``ItemCode``), and ``POST /Items`` updates the item with that code or creates it: a push sent again after
  a lost answer, changed or not, updates the one item instead of making a second. A person sees the item by its
  ``Name``; the code says where it came from.
- **Batches**: one ``GET /Items?where=Code==… OR ItemID==…`` (what exists already: an update, or ``created``
  false) and one ``POST /Items?summarizeErrors=false`` per batch of up to 50.
- **What is sent**: ``Name`` (50 characters), the description, and the side the product's ledger account is on:
  ``PurchaseDetails`` for an expense account, else ``SalesDetails`` (what invoice lines sell), with the account's
  code (the product's ``ledger_account_id``, else the connection's revenue account, else the lowest-coded revenue
  account), its ``TaxType`` when the product names a rate (otherwise Xero's screens use the account's default),
  and ``UnitPrice`` when the price is in the organisation's base currency (Xero keeps item prices in it). Xero's
  items are not typed: a service and a product are both untracked items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog

from providers import money
from providers.errors import DataError, NotFoundError, ProviderError
from providers.types import DocumentKind, OutgoingProduct, PushOutcome, PushRequest, PushResult
from providers.xero import mapping, models, writes
from providers.xero.app import ITEMS_SCOPE
from providers.xero.client import XeroClient
from providers.xero.reference import XeroReference

log = structlog.get_logger(__name__)

MAX_BATCH = 50
LOOKUP_CHUNK = 25
FIELD_OF_MESSAGE = (("account", "ledger_account_id"), ("tax", "tax_rate_platform_id"), ("price", "unit_price"),
                    ("name", "name"), ("code", "name"))


class XeroProducts:
    """``granted`` says which scopes the connection's consent gave (its token's ``scope``; empty when unknown)."""

    def __init__(self, client: XeroClient, reference: XeroReference, is_id: Callable[[object], bool],
                 granted: Callable[[], str]) -> None:
        self.client = client
        self.reference = reference
        self.is_id = is_id
        self.granted = granted

    def push(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        scopes = set(self.granted().split())
        if scopes and ITEMS_SCOPE not in scopes:
            # Consented before booksync wrote items: a 403 would end the connection; this ends only the products.
            for request in requests:
                yield PushOutcome(request.key, error=DataError(
                    f"the Xero connection was consented without {ITEMS_SCOPE}, which creating items takes; reconnect "
                    "Xero to push products", field="product"))
            return
        for start in range(0, len(requests), MAX_BATCH):
            yield from self._batch(requests[start:start + MAX_BATCH])

    def _batch(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        ready: list[tuple[PushRequest[OutgoingProduct], str, dict[str, Any]]] = []
        for request in requests:
            try:
                side, details = self._details(request.item)
            except DataError as exc:
                yield PushOutcome(request.key, error=exc)
                continue
            if request.platform_id is not None and not self.is_id(request.platform_id):
                yield PushOutcome(request.key, error=_missing(request.platform_id))
                continue
            ready.append((request, side, details))
        if not ready:
            return
        codes = {r.key: mapping.item_code(r.key) for r, _, _ in ready}
        existing = self._existing([f'Code=="{codes[r.key]}"' for r, _, _ in ready]
                                  + [f'ItemID==guid("{r.platform_id}")' for r, _, _ in ready if r.platform_id])
        by_code = {(i.Code or "").lower(): i for i in existing}
        by_id = {(i.ItemID or "").lower(): i for i in existing}
        elements: list[dict[str, Any]] = []
        sent: list[tuple[PushRequest[OutgoingProduct], bool]] = []
        for request, side, details in ready:
            target = by_id.get(request.platform_id.lower()) if request.platform_id else None
            if request.platform_id is not None and target is None:
                yield PushOutcome(request.key, error=_missing(request.platform_id))
                continue
            target = target or by_code.get(codes[request.key].lower())
            elements.append(mapping.item_payload(request.item, codes[request.key], side=side, details=details,
                                                 item_id=target.ItemID if target is not None else None))
            sent.append((request, target is None))
        if not elements:
            return
        answer = writes.write_batch(self.client, "/Items", "Items", elements, what=f"POST Items ({len(elements)})")
        self.reference.forget_items()
        items = models.parse_list(models.Item, answer, what="POST Items")
        if len(items) != len(sent):
            raise ProviderError(f"Xero answered {len(items)} items to a batch of {len(sent)}")
        for (request, creating), item in zip(sent, items, strict=True):
            if item.failed or not item.ItemID:
                yield PushOutcome(request.key, error=_refused(item.ValidationErrors))
            else:
                log.info("xero.item_pushed", item=item.ItemID, created=creating)
                yield PushOutcome(request.key, result=PushResult(item.ItemID, item.UpdatedDateUTC, created=creating))

    def _details(self, product: OutgoingProduct) -> tuple[str, dict[str, Any]]:
        """``SalesDetails`` or ``PurchaseDetails`` (by the product's account) and what they hold."""
        if not product.name.strip():
            raise DataError("a product needs a name", field="name", value=product.name)
        if product.currency is not None and not money.is_currency(product.currency):
            raise DataError(f"{product.currency!r} is not an ISO 4217 currency", field="currency",
                            value=product.currency)
        purchase = False
        if product.ledger_account_id is not None:
            account = self.reference.account(product.ledger_account_id, field="ledger_account_id")
            purchase = (account.Class or "").upper() == "EXPENSE"
        kind = DocumentKind.PAYABLE if purchase else DocumentKind.RECEIVABLE
        details: dict[str, Any] = {
            "AccountCode": self.reference.account_code(kind, product.ledger_account_id, field="ledger_account_id"),
        }
        if product.tax_rate_platform_id is not None or product.tax_rate_value is not None:
            tax_type = self.reference.tax_type(kind, product.tax_rate_platform_id, product.tax_rate_value)
            if tax_type:
                details["TaxType"] = tax_type
        if product.unit_price is not None:
            base = self.reference.base_currency()
            currency = product.currency or base
            if currency == base:
                details["UnitPrice"] = money.to_decimal(product.unit_price, currency)
            else:
                log.info("xero.item_price_not_in_base_currency", currency=currency, base=base)
        return ("PurchaseDetails" if purchase else "SalesDetails"), details

    def _existing(self, clauses: Sequence[str]) -> list[models.Item]:
        found: list[models.Item] = []
        for start in range(0, len(clauses), LOOKUP_CHUNK):
            part = clauses[start:start + LOOKUP_CHUNK]
            answer = self.client.get("/Items", what=f"GET Items by code or id ({len(part)})", model=models.Items,
                                     params={"where": " OR ".join(part)})
            found.extend(answer.Items)
        return found


def _missing(platform_id: str) -> NotFoundError:
    return NotFoundError(f"Xero has no item {platform_id}", details={"platform_id": platform_id})


def _refused(errors: Sequence[models.ValidationMessage]) -> DataError:
    messages = [e.Message for e in errors if e.Message] or ["Xero refused it without saying why"]
    lowered = messages[0].lower()
    field = next((name for needle, name in FIELD_OF_MESSAGE if needle in lowered), "product")
    return DataError(f"Xero refused the product: {'; '.join(messages)}", field=field, details={"messages": messages})
