"""List entities (Vendor, Customer, Item, Account), the read-only tax lists, and the company's own objects.

QuickBooks never deletes a list entity through the API: it is made inactive (``"Active": false``), after
which a transaction referring to it is refused (610). Display names are unique across customers and
vendors (6240, "Duplicate Name Exists Error"); item and account names are unique in their list.
``TaxCode`` and ``TaxRate`` are read-only in the Accounting API (QuickBooks creates them through its tax
service, which the sandbox does not serve); ``CompanyInfo`` and ``Preferences`` exist once per company.
"""

from __future__ import annotations

from typing import Any

from sandboxes.quickbooks import faults
from sandboxes.quickbooks.books import Books, Company, Kind

CLASSIFICATION = {
    "Bank": "Asset", "Accounts Receivable": "Asset", "Other Current Asset": "Asset", "Fixed Asset": "Asset",
    "Other Asset": "Asset", "Accounts Payable": "Liability", "Credit Card": "Liability",
    "Other Current Liability": "Liability", "Long Term Liability": "Liability", "Equity": "Equity",
    "Income": "Revenue", "Other Income": "Revenue", "Cost of Goods Sold": "Expense", "Expense": "Expense",
    "Other Expense": "Expense",
}
DEFAULT_SUBTYPE = {
    "Bank": "Checking", "Accounts Receivable": "AccountsReceivable", "Other Current Asset": "UndepositedFunds",
    "Fixed Asset": "MachineryAndEquipment", "Other Asset": "OtherLongTermAssets", "Accounts Payable": "AccountsPayable",
    "Credit Card": "CreditCard", "Other Current Liability": "OtherCurrentLiabilities",
    "Long Term Liability": "OtherLongTermLiabilities", "Equity": "OpeningBalanceEquity", "Income": "ServiceFeeIncome",
    "Other Income": "OtherMiscellaneousIncome", "Cost of Goods Sold": "SuppliesMaterialsCogs",
    "Expense": "OfficeGeneralAdministrativeExpenses", "Other Expense": "OtherMiscellaneousExpense",
}


def currency_ref(books: Books, company: Company, ref: Any, element: str) -> dict[str, str]:
    """A currency a company can use: its home one, or any when multicurrency is on."""
    from sandboxes.quickbooks.seed import CURRENCY_NAMES

    code = (ref or {}).get("value") if isinstance(ref, dict) else None
    code = code or company.currency
    if code != company.currency and not company.multicurrency:
        raise faults.business(f"{element}: currency {code} can't be used; multicurrency is off in this company "
                              f"(home currency {company.currency})", element=element)
    if code not in CURRENCY_NAMES:
        raise faults.invalid_reference(element, "Currency", code)
    return {"value": code, "name": CURRENCY_NAMES[code]}


class _Party(Kind):
    """Customer and Vendor: a display name unique among both, a currency fixed once used."""

    has_active = True
    queryable = Kind.queryable | {"displayname", "active", "givenname", "familyname", "companyname",
                                  "primaryemailaddr", "balance", "fullyqualifiedname"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        display = body.get("DisplayName") or " ".join(
            part for part in (body.get("GivenName"), body.get("MiddleName"), body.get("FamilyName")) if part
        ) or body.get("CompanyName")
        if not display:
            raise faults.required(f"{self.name}.DisplayName", "a DisplayName, a GivenName/FamilyName or a CompanyName")
        if ":" in display:
            raise faults.business(f"{self.name}.DisplayName may not contain ':'", code="6000", element="DisplayName")
        mine = (self.name, existing["Id"]) if existing else None
        if books.store.find(company.realm_id, ("Customer", "Vendor"), "DisplayName", display, exclude=mine):
            raise faults.duplicate_name(display)
        body["DisplayName"] = display
        body.setdefault("PrintOnCheckName", display)
        body.setdefault("Active", True)
        body["CurrencyRef"] = currency_ref(books, company, body.get("CurrencyRef"), f"{self.name}.CurrencyRef")
        if existing and existing.get("CurrencyRef", {}).get("value") != body["CurrencyRef"]["value"]:
            raise faults.business(f"{self.name}.CurrencyRef: a {self.name.lower()}'s currency can't be changed",
                                  element="CurrencyRef")
        if self.name == "Customer":
            body["FullyQualifiedName"] = display
            body.setdefault("Taxable", company.us_tax)
            body.setdefault("Job", False)
            body.setdefault("BillWithParent", False)
        return body


class CustomerKind(_Party):
    name = "Customer"


class VendorKind(_Party):
    name = "Vendor"


class ItemKind(Kind):
    name = "Item"
    has_active = True
    queryable = Kind.queryable | {"name", "active", "type", "sku", "fullyqualifiedname"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        name = body.get("Name")
        if not name:
            raise faults.required("Item.Name")
        if books.store.find(company.realm_id, ("Item",), "Name", name, exclude=("Item", existing["Id"]) if existing else None):
            raise faults.validation("Duplicate Name Exists Error",
                                    f"The name supplied already exists. : Another product or service is already "
                                    f"using this name ({name!r}).", "6240", "Name")
        body.setdefault("Type", "Service")
        if body["Type"] not in ("Service", "NonInventory"):
            raise faults.business(f"Item.Type {body['Type']!r} is not supported by this sandbox (Service, NonInventory)",
                                  element="Type")
        income = books.resolve(company.realm_id, body.get("IncomeAccountRef"), "Account", "Item.IncomeAccountRef")
        assert income is not None
        body["IncomeAccountRef"] = {"value": income["Id"], "name": income["Name"]}
        if body.get("ExpenseAccountRef"):
            expense = books.resolve(company.realm_id, body["ExpenseAccountRef"], "Account", "Item.ExpenseAccountRef")
            assert expense is not None
            body["ExpenseAccountRef"] = {"value": expense["Id"], "name": expense["Name"]}
        body["FullyQualifiedName"] = name
        body.setdefault("Active", True)
        body.setdefault("Taxable", company.us_tax)
        body.setdefault("TrackQtyOnHand", False)
        return body


class AccountKind(Kind):
    name = "Account"
    has_active = True
    queryable = Kind.queryable | {"name", "active", "accounttype", "classification", "acctnum", "fullyqualifiedname",
                                  "accountsubtype"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        name = body.get("Name")
        if not name:
            raise faults.required("Account.Name")
        account_type = body.get("AccountType")
        if not account_type:
            raise faults.required("Account.AccountType")
        if books.store.find(company.realm_id, ("Account",), "Name", name, exclude=("Account", existing["Id"]) if existing else None):
            raise faults.validation("Duplicate Name Exists Error",
                                    f"The name supplied already exists. : Another account is already using this "
                                    f"name ({name!r}).", "6240", "Name")
        body["Classification"] = CLASSIFICATION[account_type]
        body.setdefault("AccountSubType", DEFAULT_SUBTYPE[account_type])
        body["FullyQualifiedName"] = name
        body.setdefault("SubAccount", False)
        body.setdefault("Active", True)
        body["CurrentBalance"] = existing.get("CurrentBalance", 0) if existing else 0
        body["CurrentBalanceWithSubAccounts"] = body["CurrentBalance"]
        body["CurrencyRef"] = currency_ref(books, company, body.get("CurrencyRef"), "Account.CurrencyRef")
        return body


class TaxCodeKind(Kind):
    name = "TaxCode"
    creatable = False
    updatable = False
    has_active = True
    queryable = Kind.queryable | {"name", "active", "taxable", "taxgroup"}


class TaxRateKind(Kind):
    name = "TaxRate"
    creatable = False
    updatable = False
    has_active = True
    queryable = Kind.queryable | {"name", "active", "ratevalue"}


class CompanyInfoKind(Kind):
    name = "CompanyInfo"
    creatable = False
    singleton = True
    queryable = Kind.queryable | {"companyname", "country"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        if not body.get("CompanyName"):
            raise faults.required("CompanyInfo.CompanyName")
        if existing and body.get("Country", existing.get("Country")) != existing.get("Country"):
            raise faults.business("CompanyInfo.Country can't be changed", element="Country")
        return body


class PreferencesKind(Kind):
    name = "Preferences"
    creatable = False
    singleton = True

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        if existing is not None:
            home = existing.get("CurrencyPrefs", {}).get("HomeCurrency")
            if body.get("CurrencyPrefs", {}).get("HomeCurrency", home) != home:
                raise faults.business("Preferences.CurrencyPrefs.HomeCurrency can't be changed", element="HomeCurrency")
        return body
