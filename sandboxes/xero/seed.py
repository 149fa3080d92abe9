"""New tenants for the local Xero, seeded like a real organisation of their country.

Each gets Xero's standard chart of accounts (the codes of Xero's demo companies: 090 bank, 200 sales,
400s overheads, 610 receivables, 800 payables, 820 the tax account, ...), the tax rates Xero sets up for
that country (UK VAT, Australian and New Zealand GST, US sales tax with state and city components), its
currencies, a few contacts and items, and invoices and bills in several statuses (one paid).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sandboxes.xero.books import Books, effective_rate
from sandboxes.xero.formats import json_number, ms_datetime
from sandboxes.xero.store import Store

# TaxType, name, components [(name, rate)], ReportTaxType, applies to (assets, equity, expenses, liabilities, revenue)
_R, _E, _ALL = (0, 0, 0, 0, 1), (1, 1, 1, 1, 0), (1, 1, 1, 1, 1)
TAX_RATES: dict[str, list[tuple[str, str, list[tuple[str, str]], str, tuple[int, ...]]]] = {
    "GB": [
        ("OUTPUT2", "20% (VAT on Income)", [("VAT", "20")], "OUTPUT", _R),
        ("INPUT2", "20% (VAT on Expenses)", [("VAT", "20")], "INPUT", _E),
        ("RROUTPUT", "5% (VAT on Income)", [("VAT", "5")], "OUTPUT", _R),
        ("RRINPUT", "5% (VAT on Expenses)", [("VAT", "5")], "INPUT", _E),
        ("ZERORATEDOUTPUT", "Zero Rated Income", [("VAT", "0")], "ZERORATEDOUTPUT", _R),
        ("ZERORATEDINPUT", "Zero Rated Expenses", [("VAT", "0")], "ZERORATEDINPUT", _E),
        ("EXEMPTOUTPUT", "Exempt Income", [("VAT", "0")], "EXEMPTOUTPUT", _R),
        ("EXEMPTINPUT", "Exempt Expenses", [("VAT", "0")], "EXEMPTINPUT", _E),
        ("NONE", "No VAT", [("VAT", "0")], "NONE", _ALL),
    ],
    "AU": [
        ("OUTPUT", "GST on Income", [("GST", "10")], "OUTPUT", _R),
        ("INPUT", "GST on Expenses", [("GST", "10")], "INPUT", _E),
        ("EXEMPTOUTPUT", "GST Free Income", [("GST", "0")], "EXEMPTOUTPUT", _R),
        ("EXEMPTEXPENSES", "GST Free Expenses", [("GST", "0")], "EXEMPTEXPENSES", _E),
        ("INPUTTAXED", "Input Taxed", [("GST", "0")], "INPUTTAXED", _ALL),
        ("BASEXCLUDED", "BAS Excluded", [("GST", "0")], "BASEXCLUDED", _ALL),
        ("GSTONIMPORTS", "GST on Imports", [("GST", "0")], "GSTONIMPORTS", _E),
        ("NONE", "No GST", [("GST", "0")], "NONE", _ALL),
    ],
    "NZ": [
        ("OUTPUT2", "15% GST on Income", [("GST", "15")], "OUTPUT", _R),
        ("INPUT2", "15% GST on Expenses", [("GST", "15")], "INPUT", _E),
        ("ZERORATED", "Zero Rated", [("GST", "0")], "ZERORATEDOUTPUT", _R),
        ("GSTONIMPORTS", "GST on Imports", [("GST", "0")], "GSTONIMPORTS", _E),
        ("NONE", "No GST", [("GST", "0")], "NONE", _ALL),
    ],
    "US": [
        ("TAX001", "Sales Tax (NY)", [("State Tax", "4"), ("City Tax", "4.875")], "USSALESTAX", _R),
        ("INPUT", "Tax on Purchases", [("Tax", "0")], "INPUT", _E),
        ("NONE", "Tax Exempt", [("Tax", "0")], "NONE", _ALL),
    ],
}
DEFAULT_TAX = {"GB": ("OUTPUT2", "INPUT2"), "AU": ("OUTPUT", "INPUT"), "NZ": ("OUTPUT2", "INPUT2"),
               "US": ("TAX001", "INPUT")}
TAX_ACCOUNT_NAME = {"GB": "VAT", "AU": "GST", "NZ": "GST", "US": "Sales Tax"}
VERSIONS = {"GB": "UK", "AU": "AU", "NZ": "NZ", "US": "US"}
TIMEZONES = {"GB": "GMTSTANDARDTIME", "AU": "AUSEASTERNSTANDARDTIME", "NZ": "NEWZEALANDSTANDARDTIME",
             "US": "EASTERNSTANDARDTIME"}
CURRENCY_NAMES = {"GBP": "British Pound", "AUD": "Australian Dollar", "NZD": "New Zealand Dollar",
                  "USD": "United States Dollar", "EUR": "Euro"}

# Code, name, type, tax side ("sales" | "purchases" | None), extras
ACCOUNTS: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    ("090", "Business Bank Account", "BANK", None, {"BankAccountNumber": "12-3456-7890123-00", "BankAccountType": "BANK"}),
    ("091", "Business Savings Account", "BANK", None, {"BankAccountNumber": "12-3456-7890123-01", "BankAccountType": "BANK"}),
    ("200", "Sales", "REVENUE", "sales", {}),
    ("260", "Other Revenue", "REVENUE", "sales", {}),
    ("270", "Interest Income", "REVENUE", None, {}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "purchases", {}),
    ("400", "Advertising", "OVERHEADS", "purchases", {}),
    ("404", "Bank Fees", "OVERHEADS", None, {}),
    ("408", "Cleaning", "OVERHEADS", "purchases", {}),
    ("412", "Consulting & Accounting", "EXPENSE", "purchases", {}),
    ("429", "General Expenses", "OVERHEADS", "purchases", {}),
    ("433", "Insurance", "OVERHEADS", None, {}),
    ("445", "Light, Power, Heating", "OVERHEADS", "purchases", {}),
    ("453", "Office Expenses", "OVERHEADS", "purchases", {}),
    ("461", "Printing & Stationery", "OVERHEADS", "purchases", {}),
    ("469", "Rent", "OVERHEADS", "purchases", {}),
    ("485", "Subscriptions", "OVERHEADS", "purchases", {}),
    ("489", "Telephone & Internet", "OVERHEADS", "purchases", {}),
    ("493", "Travel - National", "OVERHEADS", "purchases", {}),
    ("610", "Accounts Receivable", "CURRENT", None, {"SystemAccount": "DEBTORS"}),
    ("620", "Prepayments", "CURRENT", None, {}),
    ("710", "Office Equipment", "FIXED", "purchases", {}),
    ("720", "Computer Equipment", "FIXED", "purchases", {}),
    ("800", "Accounts Payable", "CURRLIAB", None, {"SystemAccount": "CREDITORS"}),
    ("820", "{tax}", "CURRLIAB", None, {"SystemAccount": "GST"}),
    ("960", "Retained Earnings", "EQUITY", None, {"SystemAccount": "RETAINEDEARNINGS"}),
    ("970", "Owner A Funds Introduced", "EQUITY", None, {}),
]
CLASSES = {"BANK": "ASSET", "CURRENT": "ASSET", "FIXED": "ASSET", "REVENUE": "REVENUE", "DIRECTCOSTS": "EXPENSE",
           "OVERHEADS": "EXPENSE", "EXPENSE": "EXPENSE", "CURRLIAB": "LIABILITY", "EQUITY": "EQUITY"}
COUNTRY_CURRENCY = {"GB": "GBP", "AU": "AUD", "NZ": "NZD", "US": "USD"}


def _applies(flags: tuple[int, ...]) -> dict[str, bool]:
    names = ("CanApplyToAssets", "CanApplyToEquity", "CanApplyToExpenses", "CanApplyToLiabilities", "CanApplyToRevenue")
    return {name: bool(flag) for name, flag in zip(names, flags, strict=True)}


def create_tenant(store: Store, name: str, *, base_currency: str | None = None, country: str = "GB",
                  now_ms: int, tenant_id: str | None = None, sample_documents: bool = True) -> str:
    """Create and seed one organisation; returns its tenant id."""
    country = country.upper()
    if country not in TAX_RATES:
        raise ValueError(f"country {country!r} is not one the local Xero seeds ({', '.join(sorted(TAX_RATES))})")
    base_currency = (base_currency or COUNTRY_CURRENCY[country]).upper()
    tenant_id = tenant_id or str(uuid.uuid4())
    stamp = ms_datetime(now_ms)
    with store.transaction():
        store.add_tenant(tenant_id, name, base_currency, country, now_ms)
        sales_tax, purchases_tax = DEFAULT_TAX[country]
        rates = []
        for tax_type, label, components, report, applies in TAX_RATES[country]:
            parts = [{"Name": part, "Rate": json_number(Decimal(rate)), "IsCompound": False, "IsNonRecoverable": False}
                     for part, rate in components]
            effective = effective_rate(parts)
            rates.append((tax_type, {
                "Name": label, "TaxType": tax_type, "TaxComponents": parts, "Status": "ACTIVE",
                "ReportTaxType": report, **_applies(applies), "DisplayTaxRate": json_number(effective),
                "EffectiveRate": json_number(effective),
            }, now_ms, None))
        store.put_many(tenant_id, "taxrates", rates)
        accounts = []
        for code, label, kind, side, extras in ACCOUNTS:
            tax = {"sales": sales_tax, "purchases": purchases_tax}.get(side or "", "NONE")
            account = {
                "AccountID": str(uuid.uuid4()), "Code": code, "Name": label.format(tax=TAX_ACCOUNT_NAME[country]),
                "Type": kind, "Status": "ACTIVE", "TaxType": tax, "Class": CLASSES[kind],
                "EnablePaymentsToAccount": False, "ShowInExpenseClaims": side == "purchases",
                "ReportingCode": "", "HasAttachments": False, "UpdatedDateUTC": stamp, **extras,
            }
            if kind == "BANK":
                account["CurrencyCode"] = base_currency
            accounts.append((account["AccountID"], account, now_ms, code))
        store.put_many(tenant_id, "accounts", accounts)
        others = [c for c in ("USD", "EUR", "GBP", "AUD") if c != base_currency][:2]
        store.put_many(tenant_id, "currencies", [
            (code, {"Code": code, "Description": CURRENCY_NAMES.get(code, code)}, now_ms, None)
            for code in [base_currency, *others]
        ])
        store.put(tenant_id, "organisation", tenant_id, {
            "OrganisationID": tenant_id, "APIKey": "", "Name": name, "LegalName": f"{name} Ltd",
            "PaysTax": True, "Version": VERSIONS[country], "OrganisationType": "COMPANY",
            "BaseCurrency": base_currency, "CountryCode": country, "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE", "FinancialYearEndDay": 31, "FinancialYearEndMonth": 3 if country == "GB" else 12,
            "SalesTaxBasis": "ACCRUALS" if country != "US" else "ACCRUAL", "SalesTaxPeriod": "QUARTERLY1",
            "DefaultSalesTax": "Tax Exclusive", "DefaultPurchasesTax": "Tax Exclusive",
            "CreatedDateUTC": stamp, "Timezone": TIMEZONES[country], "OrganisationEntityType": "COMPANY",
            "ShortCode": "!" + tenant_id[:5],
        }, now_ms)
        if sample_documents:
            _sample_documents(Books(store, tenant_id, now_ms), sales_tax, purchases_tax)
    return tenant_id


def _sample_documents(books: Books, sales_tax: str, purchases_tax: str) -> None:
    today = dt.datetime.fromtimestamp(books.now_ms / 1000, dt.UTC).date()
    contacts = {}
    for name, email in (("Ridgeway University", "accounts@ridgeway.example"),
                        ("City Limousines", "billing@citylimos.example"),
                        ("PowerDirect", "invoices@powerdirect.example"),
                        ("Swanston Security", "ar@swanston.example")):
        contacts[name] = books.save_contact({"Name": name, "EmailAddress": email}, create_only=True).doc
    for code, item_name, price, account, tax in (("DEV-HR", "Development hour", "120.00", "200", sales_tax),
                                                 ("SUPPORT", "Support plan (monthly)", "49.00", "200", sales_tax)):
        books.save_item({"Code": code, "Name": item_name, "Description": item_name,
                         "SalesDetails": {"UnitPrice": Decimal(price), "AccountCode": account, "TaxType": tax}},
                        create_only=True)

    def invoice(kind: str, contact: str, status: str, lines: list[tuple[str, str, str, str, str]],
                reference: str, days_ago: int) -> dict[str, Any]:
        outcome = books.save_invoice({
            "Type": kind, "Contact": {"ContactID": contacts[contact]["ContactID"]}, "Status": status,
            "Reference": reference, "LineAmountTypes": "Exclusive",
            "Date": (today - dt.timedelta(days=days_ago)).isoformat(),
            "DueDate": (today - dt.timedelta(days=days_ago - 30)).isoformat(),
            "LineItems": [{"Description": d, "Quantity": Decimal(q), "UnitAmount": Decimal(u), "AccountCode": a,
                           "TaxType": t} for d, q, u, a, t in lines],
        }, create_only=True)
        assert outcome.ok, outcome.errors
        return outcome.doc

    invoice("ACCREC", "Ridgeway University", "DRAFT", [("Workshop", "1", "500.00", "200", sales_tax)], "Workshop", 5)
    invoice("ACCREC", "City Limousines", "AUTHORISED",
            [("Development", "12", "120.00", "200", sales_tax), ("Support plan", "1", "49.00", "200", sales_tax)],
            "Project Apollo", 20)
    paid = invoice("ACCREC", "Ridgeway University", "AUTHORISED", [("Training", "2", "250.00", "200", sales_tax)],
                   "Training day", 40)
    invoice("ACCPAY", "PowerDirect", "SUBMITTED", [("Electricity", "1", "231.40", "445", purchases_tax)], "PD-7781", 10)
    invoice("ACCPAY", "Swanston Security", "AUTHORISED", [("Monitoring", "3", "75.00", "429", purchases_tax)],
            "SW-1203", 15)
    voided = invoice("ACCPAY", "PowerDirect", "AUTHORISED", [("Duplicate bill", "1", "99.00", "445", purchases_tax)],
                     "PD-7702", 35)
    books.save_invoice({"Status": "VOIDED"}, create_only=False, target_id=voided["InvoiceID"])
    outcome = books.save_payment({"Invoice": {"InvoiceID": paid["InvoiceID"]}, "Account": {"Code": "090"},
                                  "Amount": Decimal(str(paid["Total"])), "Date": (today - dt.timedelta(days=30)).isoformat(),
                                  "Reference": "Remittance 4471"})
    assert outcome.ok, outcome.errors
