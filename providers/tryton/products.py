"""Products in Tryton: a product template with its one product (variant), sold through an account category.

A pushed product is a ``product.template`` (name, type ``goods`` or ``service``, unit, list price) with one
``product.product`` (the description). Where the key lives: the product has an identifier (type empty, code
``booksync:<key>``), an indexed exact match, as parties have (``adapter.push_counterparts``). The platform id
of a product is its ``product.product`` id, which invoice lines name.

The account it is sold with: Tryton books a product on its template's *account category*
(``account_product``: a ``product.category`` with ``accounting`` set, holding the revenue and expense accounts
and the customer taxes). booksync uses one category per (revenue account, taxes), named
``booksync: <account code> <account name>[ (<taxes>)]`` (Tryton keeps `` / `` for its category paths), found by that name or created: the account the product
names (``OutgoingProduct.ledger_account_id``, which the engine fills with the connection's default product
account when the product has none), else the chart's default revenue account; the expense account is the
chart's default. A person can re-file a product under their own category in Tryton; booksync sets it again only
when the product changes on the platform.

Tryton keeps list prices in the company's currency: a price in another currency is refused, not converted.
A unit is Tryton's unit of that name or symbol (``hour``, ``h``); none is Tryton's ``Unit``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from providers import money
from providers.errors import DataError, NotFoundError
from providers.tryton import mapping
from providers.types import OutgoingProduct, ProductType, PushOutcome, PushRequest, PushResult

if TYPE_CHECKING:
    from providers.tryton.adapter import TrytonProvider

log = structlog.get_logger(__name__)

TEMPLATE_TYPE = {ProductType.PRODUCT: "goods", ProductType.SERVICE: "service"}
CATEGORY_PREFIX = "booksync: "


class TrytonProducts:
    """The products of one ``TrytonProvider`` (its session, company and helpers)."""

    def __init__(self, provider: TrytonProvider) -> None:
        self.provider = provider
        self._rpc = provider._rpc
        self._units: list[dict[str, Any]] | None = None
        self._categories: dict[tuple[int, tuple[int, ...]], int] = {}
        self._product_units: dict[int, int] = {}

    # -- for invoice lines ------------------------------------------------------------------------
    def unit_of(self, product_id: int, field: str) -> int:
        """The unit an invoice line selling ``product_id`` is in (the product's own; Tryton requires one)."""
        if product_id not in self._product_units:
            records = self._rpc.model("product.product", "search_read", [("id", "=", product_id)], 0, 1, None,
                                      ["id", "default_uom"])
            if not records:
                raise DataError(f"product {product_id} does not exist in the accounting system", field=field,
                                value=str(product_id))
            self._product_units[product_id] = int(records[0]["default_uom"])
        return self._product_units[product_id]

    # -- push -------------------------------------------------------------------------------------
    def push(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        """Updated by id, found by their booksync identifier, or created — one search for the batch."""
        creates = [r for r in requests if r.platform_id is None]
        markers = [mapping.key_marker(r.key)[1:-1] for r in creates]  # the identifier code: booksync:<key>
        found: dict[str, int] = {}
        if markers:
            for record in self._rpc.model("product.product", "search_read", [("identifiers.code", "in", markers)],
                                          0, None, [["id", "ASC"]], ["id", "identifiers.code"]):
                for identifier in record.get("identifiers.") or ():
                    found.setdefault(identifier.get("code") or "", int(record["id"]))
        written: dict[str, tuple[int, bool]] = {}
        outcomes: dict[str, PushOutcome] = {}
        for request in requests:
            marker = mapping.key_marker(request.key)[1:-1]
            try:
                values = self._template_values(request.item)
                target = request.platform_id if request.platform_id is not None else found.get(marker)
                if target is not None:
                    written[request.key] = (self._update(str(target), request.item, values), False)
                else:
                    written[request.key] = (self._create(request.item, values, marker), True)
            except (DataError, NotFoundError) as exc:
                outcomes[request.key] = PushOutcome(request.key, error=exc)
        stamps = self._stamps([product_id for product_id, _ in written.values()])
        for request in requests:
            if request.key in written:
                product_id, created = written[request.key]
                yield PushOutcome(request.key, result=PushResult(str(product_id), stamps.get(product_id), created))
            else:
                yield outcomes[request.key]

    def _create(self, product: OutgoingProduct, values: dict[str, Any], marker: str) -> int:
        variant = {"description": product.description,
                   "identifiers": [["create", [{"type": None, "code": marker}]]]}
        (template,) = self._rpc.model("product.template", "create", [{**values, "products": [["create", [variant]]]}])
        (product_id,) = self._rpc.model("product.product", "search", [("template", "=", template)], 0, 1, None)
        log.info("tryton.product_created", product=product_id)
        return int(product_id)

    def _update(self, platform_id: str, product: OutgoingProduct, values: dict[str, Any]) -> int:
        try:
            product_id = int(platform_id)
        except ValueError:
            raise NotFoundError(f"Tryton has no product {platform_id!r}") from None
        records = self._rpc.model("product.product", "search_read", [("id", "=", product_id)], 0, 1, None,
                                  ["id", "template", "default_uom"])
        if not records:
            raise NotFoundError(f"Tryton has no product {platform_id}", details={"platform_id": platform_id})
        record = records[0]
        if int(record["default_uom"]) == values["default_uom"]:
            values = {name: value for name, value in values.items() if name != "default_uom"}
        self._rpc.model("product.template", "write", [int(record["template"])], values)
        self._rpc.model("product.product", "write", [product_id], {"description": product.description})
        self._product_units.pop(product_id, None)
        log.info("tryton.product_updated", product=product_id)
        return product_id

    def _template_values(self, product: OutgoingProduct) -> dict[str, Any]:
        """Everything the template needs, resolved and checked before anything is written."""
        values: dict[str, Any] = {
            "name": product.name,
            "type": TEMPLATE_TYPE[product.type],
            "default_uom": self._unit(product.unit),
            "account_category": self._category(product),
        }
        if product.unit_price is not None:
            company = self.provider.company_currency_code()
            if product.currency != company:
                raise DataError(
                    f"Tryton keeps a product's list price in the company's currency ({company}); this product's price "
                    f"is in {product.currency}", field="currency", value=product.currency,
                )
            values["list_price"] = money.to_decimal(product.unit_price, company)
        return values

    def _unit(self, unit: str | None) -> int:
        if self._units is None:
            self._units = self._rpc.model("product.uom", "search_read", [], 0, None, [["id", "ASC"]],
                                          ["id", "name", "symbol"])
        wanted = (unit or "Unit").strip().lower()
        for record in self._units:
            if wanted in ((record.get("name") or "").lower(), (record.get("symbol") or "").lower()):
                return int(record["id"])
        names = ", ".join(sorted(str(r.get("name")) for r in self._units)[:12])
        raise DataError(f"unit {unit!r} does not exist in Tryton (its units include {names})", field="unit",
                        value=unit)

    def _category(self, product: OutgoingProduct) -> int:
        """The account category for the product's revenue account and taxes, found by name or created."""
        provider = self.provider
        if product.ledger_account_id is not None:
            account = _int(product.ledger_account_id, "ledger_account_id")
        else:
            account = provider._default_account("out")
        taxes = tuple(provider.taxes_for(product.tax_rate_value, product.tax_rate_platform_id, "out"))
        if (account, taxes) in self._categories:
            return self._categories[(account, taxes)]
        accounts = self._rpc.model("account.account", "search_read", [("id", "=", account),
                                   ("company", "=", self._rpc.company)], 0, 1, None, ["id", "code", "name", "type"])
        if not accounts or accounts[0].get("type") is None:
            raise DataError(f"ledger account {account} does not exist in Tryton or cannot take entries",
                            field="ledger_account_id", value=str(account))
        tax_names = provider._tax_map()
        name = f"{CATEGORY_PREFIX}{accounts[0].get('code') or ''} {accounts[0]['name']}".replace("  ", " ")
        if taxes:
            name += " (" + ", ".join(tax_names[t].name for t in taxes if t in tax_names) + ")"
        existing = self._rpc.model("product.category", "search", [("name", "=", name), ("accounting", "=", True)],
                                   0, 1, [["id", "ASC"]])
        if existing:
            category = int(existing[0])
        else:
            values: dict[str, Any] = {"name": name, "accounting": True, "account_revenue": account,
                                      "account_expense": provider._default_account("in")}
            if taxes:
                values["customer_taxes"] = [["add", list(taxes)]]
            (category,) = self._rpc.model("product.category", "create", [values])
            log.info("tryton.account_category_created", category=category, account=account)
        self._categories[(account, taxes)] = int(category)
        return int(category)

    def _stamps(self, product_ids: list[int]) -> dict[int, Any]:
        if not product_ids:
            return {}
        records = self._rpc.model("product.product", "read", sorted(set(product_ids)),
                                  ["id", "write_date", "create_date", "template.write_date"])
        stamps = {}
        for record in records:
            own = mapping.changed_at(record)
            template = (record.get("template.") or {}).get("write_date")
            stamps[int(record["id"])] = mapping.as_utc(max(own, template) if template else own)
        return stamps


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{field} must be a Tryton id (an integer), not {value!r}", field=field, value=value) from None
