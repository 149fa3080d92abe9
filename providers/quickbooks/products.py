"""Products as QuickBooks ``Item``s: ``Service`` for a service, ``NonInventory`` for a product (booksync tracks no
stock), selling into an income account; invoice lines then name them (``SalesItemLineDetail.ItemRef``).

Following Intuit's Item entity reference: ``Name`` is unique among items, active or not (Fault 6240), 100
characters at most and without ``:`` (it separates a sub-item's parent); ``IncomeAccountRef`` is required for
both types; ``UnitPrice`` is in the home currency; a US company marks an item ``Taxable`` (its invoices name the
sales tax), any other one may give it a ``SalesTaxCodeRef``.

**Where the key lives**: ``Sku`` is ``[booksync:<key>]``. An item has no note field; ``Sku`` is the item's
identifier for other systems ("Stock Keeping Unit", 100 characters), filterable (``Sku IN (...)``), and shown only
where a company turns SKUs on. A lookup asks by ``Sku`` (booksync's, even after a rename in QuickBooks) and by
``Name`` (one item per batch of each): one carrying the key is the product's and is updated; one with exactly the
name and no SKU is adopted (the marker is added), as counterparts are; one with the name and another SKU is a
clash (a ``DataError`` on ``name``). Writes are one ``/batch`` call (``requestid`` per item), as for documents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import structlog

from providers import money
from providers.errors import DataError, NotFoundError, ProviderError, RetryableError
from providers.quickbooks import mapping, models
from providers.quickbooks.bodies import DocumentBodies
from providers.quickbooks.client import QuickBooksClient, quote
from providers.quickbooks.reference import ReferenceData, by_id
from providers.quickbooks.writes import MAX_BATCH, Op, operation, write
from providers.types import DocumentKind, OutgoingProduct, ProductType, PushOutcome, PushRequest, PushResult

log = structlog.get_logger(__name__)

NAME_MAX = 100
LOOKUP_CHUNK = 50
MAX_RESULTS = 1000
ITEM_TYPE = {ProductType.SERVICE: "Service", ProductType.PRODUCT: "NonInventory"}
INCOME_TYPES = ("Income", "Other Income")
#: Fault code of a name another item already has.
DUPLICATE_NAME = "6240"


def is_id(value: object) -> bool:
    return isinstance(value, str) and value.isdigit()


class ProductPusher:
    def __init__(self, client: QuickBooksClient, reference: ReferenceData, bodies: DocumentBodies) -> None:
        self.client = client
        self.reference = reference
        self.bodies = bodies

    def push(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        for start in range(0, len(requests), MAX_BATCH):
            yield from self._batch(requests[start:start + MAX_BATCH])

    def _batch(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        ready: list[tuple[PushRequest[OutgoingProduct], dict[str, Any]]] = []
        for request in requests:
            try:
                ready.append((request, self.body(request.item, request.key)))
            except DataError as exc:
                yield PushOutcome(request.key, error=exc)
        if not ready:
            return
        ids = [r.platform_id for r, _ in ready if r.platform_id and is_id(r.platform_id)]
        found = self._items("Id", ids) + self._items("Sku", [b["Sku"] for _, b in ready]) + \
            self._items("Name", [b["Name"] for _, b in ready])
        by_id = {item.Id: item for item in found}
        ops: list[tuple[PushRequest[OutgoingProduct], Op, bool]] = []
        for request, body in ready:
            try:
                target = self._target(request, body, found, by_id)
            except (DataError, NotFoundError) as exc:
                yield PushOutcome(request.key, error=exc)
                continue
            if target is None:
                ops.append((request, operation("Item", "create", request.key, body), True))
            else:
                update = {**body, "Id": target.Id, "SyncToken": target.SyncToken or "0", "sparse": True}
                ops.append((request, operation("Item", "update", request.key, update), False))
        if not ops:
            return
        answers = write(self.client, self.client.realm_id, [op for _, op, _ in ops])
        self.reference.forget_items()
        for (request, op, creating), answer in zip(ops, answers, strict=True):
            if isinstance(answer, RetryableError):
                continue  # no outcome: the engine counts it unanswered and looks the key up next time
            if isinstance(answer, ProviderError):
                yield PushOutcome(request.key, error=_error(answer, request.item))
                continue
            item = models.parse(models.Item, answer, what=f"{op.operation} Item")
            log.info("quickbooks.item_pushed", id=item.Id, created=creating)
            stamp = item.MetaData.updated.astimezone(dt.UTC) if item.MetaData else None
            yield PushOutcome(request.key, result=PushResult(item.Id, stamp, created=creating))

    def body(self, product: OutgoingProduct, key: str) -> dict[str, Any]:
        """What an ``Item`` of this product holds; a DataError naming the field before anything is sent."""
        name = product.name.strip()
        if not name or ":" in name or len(name) > NAME_MAX:
            raise DataError(f"QuickBooks Online item names are 1 to {NAME_MAX} characters without ':'", field="name",
                            value=product.name)
        body: dict[str, Any] = {"Name": name, "Sku": mapping.key_marker(key), "Type": ITEM_TYPE[product.type],
                                "IncomeAccountRef": {"value": self._income_account(product.ledger_account_id)}}
        if product.description:
            body["Description"] = product.description[:4000]
        company = self.reference.company()
        if product.unit_price is not None:
            currency = product.currency or company.home_currency
            if not money.is_currency(currency):
                raise DataError(f"{currency!r} is not an ISO 4217 currency", field="currency", value=product.currency)
            if currency == company.home_currency:  # QuickBooks keeps an item's price in the home currency
                body["UnitPrice"] = money.to_decimal(product.unit_price, currency)
        if product.tax_rate_platform_id is not None or product.tax_rate_value is not None:
            taxes = self.reference.taxes()
            code = self.bodies.tax_code(DocumentKind.RECEIVABLE, product.tax_rate_platform_id, product.tax_rate_value,
                                        taxes)
            if taxes.us:
                body["Taxable"] = code not in (None, mapping.US_NOT_TAXABLE)
            elif code is not None:
                body["SalesTaxCodeRef"] = {"value": code}
        return body

    def _income_account(self, wanted: str | None) -> str:
        accounts = self.reference.accounts()
        if wanted is not None:
            account = accounts.get(wanted) or self.reference.accounts(refresh=True).get(wanted)
            if account is None or not account.Active:
                raise DataError(f"ledger account {wanted} does not exist in the accounting system",
                                field="ledger_account_id", value=wanted)
            if account.AccountType not in INCOME_TYPES:
                raise DataError(f"ledger account {wanted} ({account.Name}) is an {account.AccountType} account; a "
                                "QuickBooks Online product sells into an income account", field="ledger_account_id",
                                value=wanted)
            return account.Id
        income = [a for a in by_id(accounts.values()) if a.Active and a.AccountType == "Income"]
        if not income:
            raise DataError("the accounting system has no income account for products", field="ledger_account_id")
        return income[0].Id

    def _target(self, request: PushRequest[OutgoingProduct], body: dict[str, Any], found: Sequence[models.Item],
                by_id: dict[str, models.Item]) -> models.Item | None:
        """The item to update (None: create one)."""
        if request.platform_id is not None:
            target = by_id.get(request.platform_id)
            if target is None:
                raise NotFoundError(f"QuickBooks Online has no item {request.platform_id}",
                                    details={"platform_id": request.platform_id})
            return target
        ours = next((i for i in found if request.key in mapping.keys_in(i.Sku)), None)
        if ours is not None:
            return ours
        named = [i for i in found if i.Name.lower() == str(body["Name"]).lower()]
        if not named:
            return None
        if not named[0].Sku and named[0].Active:
            log.info("quickbooks.item_adopted", id=named[0].Id)
            return named[0]
        raise DataError(f"QuickBooks Online already has an item named {named[0].Name!r}"
                        + (" that booksync pushed for another product" if mapping.keys_in(named[0].Sku) else
                           f" (SKU {named[0].Sku})" if named[0].Sku else " (inactive)")
                        + "; QuickBooks wants item names unique", field="name", value=request.item.name)

    def _items(self, field: str, values: Sequence[str]) -> list[models.Item]:
        found: list[models.Item] = []
        wanted = sorted(set(values))
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            part = wanted[start:start + LOOKUP_CHUNK]
            what = f"query Item by {field} ({len(part)})"
            response = self.client.query(
                f"SELECT * FROM Item WHERE {field} IN ({', '.join(quote(v) for v in part)}) AND Active IN (true, false) "
                f"MAXRESULTS {MAX_RESULTS}", what=what)
            found += models.parse_each(models.Item, response.get("Item"), what=what)
        return found


def _error(error: ProviderError, product: OutgoingProduct) -> ProviderError:
    if not isinstance(error, DataError) or isinstance(error, NotFoundError):
        return error
    if DUPLICATE_NAME in (error.details.get("codes") or []):
        return DataError(f"QuickBooks Online already has an item named {product.name!r}; item names are unique there",
                         field="name", value=product.name, details=error.details)
    leaf = (error.field or "").rsplit(".", 1)[-1]
    field = {"Name": "name", "IncomeAccountRef": "ledger_account_id", "UnitPrice": "unit_price",
             "SalesTaxCodeRef": "tax_rate_value", "Type": "type"}.get(leaf, "product")
    return DataError(error.message, field=field,
                     details={k: v for k, v in error.details.items() if k not in ("field", "value")})
