"""An organisation's reference data, read once per provider and again when something is missing: its tax rates,
accounts, items and base currency; and how booksync picks among them (a line's account and tax type, a product's,
the bank account a payment is recorded in).

Accounts are named by ``AccountID`` or by ``Code``; tax rates by ``TaxType``; items by ``ItemID``. Whatever is
not found is looked for once more in a fresh list before it is a ``DataError`` naming the field that asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.errors import DataError
from providers.types import DocumentKind
from providers.xero import mapping, models
from providers.xero.client import XeroClient

EXPENSE_TYPES = ("EXPENSE", "OVERHEADS", "DIRECTCOSTS")
REVENUE_TYPES = ("REVENUE", "SALES", "OTHERINCOME")


def _active(status: str | None) -> bool:
    return (status or "ACTIVE") == "ACTIVE"


class XeroReference:
    def __init__(self, client: XeroClient, settings: Mapping[str, Any]) -> None:
        self.client = client
        self.settings = settings
        self._rates: dict[str, models.TaxRate] | None = None
        self._accounts: list[models.Account] | None = None
        self._items: dict[str, models.Item] | None = None
        self._base_currency: str | None = None

    # -- the lists ------------------------------------------------------------------------------------

    def tax_rates(self, *, refresh: bool = False) -> dict[str, models.TaxRate]:
        if self._rates is None or refresh:
            answer = self.client.get("/TaxRates", what="GET TaxRates", model=models.TaxRates)
            self._rates = {rate.TaxType: rate for rate in answer.TaxRates}
        return self._rates

    def accounts(self, *, refresh: bool = False) -> list[models.Account]:
        if self._accounts is None or refresh:
            self._accounts = self.client.get("/Accounts", what="GET Accounts", model=models.Accounts).Accounts
        return self._accounts

    def items(self, *, refresh: bool = False) -> dict[str, models.Item]:
        """Every item by lower-case ``ItemID`` (Xero lists items whole: ``GET /Items`` has no pages)."""
        if self._items is None or refresh:
            answer = self.client.get("/Items", what="GET Items", model=models.Items)
            self._items = {item.ItemID.lower(): item for item in answer.Items if item.ItemID}
        return self._items

    def forget_items(self) -> None:
        self._items = None

    def base_currency(self) -> str:
        if self._base_currency is None:
            answer = self.client.get("/Organisation", what="GET Organisation", model=models.Organisations)
            self._base_currency = answer.Organisations[0].BaseCurrency or ""
        return self._base_currency

    # -- choices --------------------------------------------------------------------------------------

    def account(self, wanted: str, *, field: str) -> models.Account:
        """The account named by ``AccountID`` or ``Code``, or a DataError on ``field``."""
        for refresh in (False, True):
            for account in self.accounts(refresh=refresh):
                if account.AccountID.lower() == wanted.lower() or (account.Code and account.Code == wanted):
                    return account
        raise DataError(f"ledger account {wanted} does not exist in the accounting system", field=field, value=wanted)

    def account_code(self, kind: DocumentKind, wanted: str | None, *, field: str) -> str:
        """The code a line (or a product) of a bill (``PAYABLE``) or invoice posts to: the one named, else the setting
        ``expense_account_code`` / ``revenue_account_code``, else the lowest-coded active expense / revenue account."""
        if wanted is not None:
            account = self.account(wanted, field=field)
            if not account.Code:
                raise DataError(f"ledger account {wanted} has no code in Xero and cannot be used on lines", field=field,
                                value=wanted)
            return account.Code
        setting = self.settings.get("expense_account_code" if kind is DocumentKind.PAYABLE else "revenue_account_code")
        if setting:
            return str(setting)
        wanted_class, types = ("EXPENSE", EXPENSE_TYPES) if kind is DocumentKind.PAYABLE else ("REVENUE", REVENUE_TYPES)
        candidates = sorted(
            (a for a in self.accounts() if a.Code and _active(a.Status)
             and (a.Class or "").upper() == wanted_class and (a.Type or "").upper() in types),
            key=lambda a: (types.index((a.Type or "").upper()), a.Code or ""),
        )
        if not candidates:
            what = "expense" if kind is DocumentKind.PAYABLE else "revenue"
            raise DataError(f"the accounting system has no {what} account for lines", field="lines")
        return str(candidates[0].Code)

    def tax_type(self, kind: DocumentKind, platform_id: str | None, value: int | None, *, prefix: str = "") -> str | None:
        """The ``TaxType`` for a rate on a bill (``PAYABLE``: expenses) or an invoice (revenue): the one named, else the
        first active rate with that ``EffectiveRate`` usable there; no rate is ``NONE`` (or a zero rate). A rate Xero
        lacks is a DataError on ``<prefix>tax_rate_platform_id`` / ``<prefix>tax_rate_value``."""
        expenses = kind is DocumentKind.PAYABLE

        def applies(rate: models.TaxRate) -> bool:
            allowed = rate.CanApplyToExpenses if expenses else rate.CanApplyToRevenue
            return _active(rate.Status) and allowed is not False

        usage = "purchases" if expenses else "sales"
        if platform_id is not None:
            rate = self.tax_rates().get(platform_id) or self.tax_rates(refresh=True).get(platform_id)
            if rate is None or not applies(rate):
                raise DataError(
                    f"tax rate {platform_id} does not exist in the accounting system"
                    + ("" if rate is None else f" or cannot be used on {usage}"),
                    field=f"{prefix}tax_rate_platform_id", value=platform_id)
            return rate.TaxType
        same: list[models.TaxRate] = []
        for refresh in (False, True):
            rates = self.tax_rates(refresh=refresh)
            if value is None:
                none = rates.get("NONE")
                if none is not None and applies(none):
                    return "NONE"
                zero = [r for r in rates.values() if applies(r) and mapping.rate_value(r.EffectiveRate) == 0]
                return zero[0].TaxType if zero else None
            same = [r for r in rates.values() if mapping.rate_value(r.EffectiveRate) == value]
            usable = [r for r in same if applies(r)]
            if usable:
                return usable[0].TaxType
        assert value is not None
        raise DataError(
            f"tax rate {mapping.format_rate(value)} does not exist in the accounting system"
            + (f" for {usage}" if same else ""),
            field=f"{prefix}tax_rate_value", value=value)

    def item(self, platform_id: str, *, field: str) -> models.Item:
        """The item a line sells, by ``ItemID``, or a DataError on ``field``."""
        for refresh in (False, True):
            found = self.items(refresh=refresh).get(platform_id.lower())
            if found is not None:
                return found
        raise DataError(f"product {platform_id} does not exist in the accounting system", field=field,
                        value=platform_id)

    def payment_account(self, wanted: str | None, currency: str) -> models.Account:
        """The account a payment leaves or reaches: the one named (a bank account, or one with payments enabled),
        else the lowest-coded active bank account in the payment's currency, else one in the base currency."""
        if wanted is not None:
            account = self.account(wanted, field="account_id")
            if (account.Type or "").upper() != "BANK" and not account.EnablePaymentsToAccount:
                raise DataError(f"ledger account {account.Code or wanted} ({account.Name}) takes no payments in Xero: "
                                "name a bank account, or one with payments enabled", field="account_id", value=wanted)
            if not _active(account.Status):
                raise DataError(f"ledger account {account.Code or wanted} ({account.Name}) is archived in Xero",
                                field="account_id", value=wanted)
            return account
        base = self.base_currency()
        banks = [a for a in self.accounts() if (a.Type or "").upper() == "BANK" and _active(a.Status)]
        for accepted in (currency, base):
            chosen = sorted((a for a in banks if (a.CurrencyCode or base) == accepted),
                            key=lambda a: (a.Code or "~", a.Name))
            if chosen:
                return chosen[0]
        raise DataError(f"Xero has no active bank account in {currency} or {base} to record the payment in; set the "
                        "connection's payment account", field="account_id")
