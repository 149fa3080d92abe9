"""A company's reference data, read once per provider and again when something is missing: who it is
(``CompanyInfo``, ``Preferences``), its tax codes and rates, accounts and items, and its default sales item."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from providers.errors import DataError, ProviderError
from providers.quickbooks import models
from providers.quickbooks.client import QuickBooksClient
from providers.quickbooks.mapping import TaxTable
from providers.quickbooks.writes import operation, write

log = structlog.get_logger(__name__)

MAX_RESULTS = 1000
EVERY = "Active IN (true, false)"  # list queries answer active objects only unless they ask about Active
DEFAULT_ITEM_NAME = "Services"


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    legal_name: str
    country: str
    home_currency: str
    multicurrency: bool
    email: str | None
    default_item: str | None

    @property
    def us(self) -> bool:
        """US companies tax through ``TxnTaxDetail`` and TAX/NON lines; every other country by line codes."""
        return self.country == "US"


def by_id(objects: Any) -> list[Any]:
    return sorted(objects, key=lambda o: int(o.Id) if str(o.Id).isdigit() else 0)


class ReferenceData:
    def __init__(self, client: QuickBooksClient, settings: Mapping[str, Any]) -> None:
        self.client = client
        self.settings = settings
        self._company: Company | None = None
        self._taxes: TaxTable | None = None
        self._accounts: dict[str, models.Account] | None = None
        self._items: dict[str, models.Item] | None = None
        self._default_item: str | None = None

    def company(self, *, refresh: bool = False) -> Company:
        if self._company is None or refresh:
            realm = self.client.realm_id
            answer = self.client.call("GET", f"/companyinfo/{realm}", what="GET CompanyInfo")
            info = models.parse(models.CompanyInfo, models.member(answer, "CompanyInfo", what="GET CompanyInfo"),
                                what="GET CompanyInfo")
            answer = self.client.call("GET", "/preferences", what="GET Preferences")
            prefs = models.parse(models.Preferences, models.member(answer, "Preferences", what="GET Preferences"),
                                 what="GET Preferences")
            currency_prefs, forms = prefs.CurrencyPrefs, prefs.SalesFormsPrefs
            self._company = Company(
                name=info.CompanyName,
                legal_name=info.LegalName or info.CompanyName,
                country=(info.Country or (info.CompanyAddr.Country if info.CompanyAddr else None) or "US").upper(),
                home_currency=currency_prefs.HomeCurrency.value if currency_prefs and currency_prefs.HomeCurrency
                else "USD",
                multicurrency=bool(currency_prefs and currency_prefs.MultiCurrencyEnabled),
                email=info.Email.Address if info.Email else None,
                default_item=forms.DefaultItem.value if forms and forms.DefaultItem else None,
            )
        return self._company

    def everything(self, entity: str, model: type[models.M], *, where: str = EVERY) -> list[models.M]:
        """Every object of a list entity, active or not, page by page (``STARTPOSITION``)."""
        found: list[models.M] = []
        start = 1
        condition = f" WHERE {where}" if where else ""
        while True:
            what = f"query {entity} (from {start})"
            response = self.client.query(
                f"SELECT * FROM {entity}{condition} ORDERBY Id STARTPOSITION {start} MAXRESULTS {MAX_RESULTS}",
                what=what)
            page = models.parse_each(model, response.get(entity), what=what)
            found.extend(page)
            if len(page) < MAX_RESULTS:
                return found
            start += MAX_RESULTS

    def taxes(self, *, refresh: bool = False) -> TaxTable:
        if self._taxes is None or refresh:
            codes = self.everything("TaxCode", models.TaxCode)
            rates = self.everything("TaxRate", models.TaxRate)
            self._taxes = TaxTable({c.Id: c for c in codes}, {r.Id: r for r in rates}, us=self.company().us)
        return self._taxes

    def accounts(self, *, refresh: bool = False) -> dict[str, models.Account]:
        if self._accounts is None or refresh:
            self._accounts = {a.Id: a for a in self.everything("Account", models.Account)}
        return self._accounts

    def items(self, *, refresh: bool = False) -> dict[str, models.Item]:
        if self._items is None or refresh:
            self._items = {i.Id: i for i in self.everything("Item", models.Item)}
        return self._items

    def forget_items(self) -> None:
        """Read the items again next time (booksync just wrote some)."""
        self._items = None

    def default_item(self) -> str:
        """The connection's default item (setting ``default_item_id``), else the company's own (``Preferences``),
        else an active item named "Services", else one booksync creates."""
        if self._default_item is None:
            items = self.items()
            chosen = self.settings.get("default_item_id") or self.company().default_item
            if not chosen or chosen not in items or not items[chosen].Active:
                named = [i for i in by_id(items.values()) if i.Active and i.Name == DEFAULT_ITEM_NAME]
                chosen = named[0].Id if named else self._create_default_item()
            self._default_item = str(chosen)
        return self._default_item

    def _create_default_item(self) -> str:
        income = [a for a in by_id(self.accounts().values()) if a.Active and a.AccountType == "Income"]
        if not income:
            raise DataError("the accounting system has no income account for invoice lines", field="lines")
        taken = {item.Name for item in self.items().values()}  # names are unique, inactive items' too
        name = next(n for n in (DEFAULT_ITEM_NAME, f"{DEFAULT_ITEM_NAME} (booksync)",
                                f"booksync {self.client.realm_id}") if n not in taken)
        body = {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": income[0].Id}}
        (answer,) = write(self.client, self.client.realm_id, [operation("Item", "create", self.client.realm_id, body)])
        if isinstance(answer, ProviderError):
            raise answer
        item = models.parse(models.Item, answer, what="create Item")
        self._items = None
        log.info("quickbooks.default_item_created", item=item.Id, name=name)
        return item.Id
