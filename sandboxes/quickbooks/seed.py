"""A new company (realm): chart of accounts, tax codes and rates for its country, a default "Services" item,
a few vendors and customers, bills, invoices and payments.

Everything after the company's own objects is created through :class:`Books`, so seeded documents are
computed exactly as documents the API receives. Tax lists follow the company's country: US companies get
``TAX``/``NON`` and a combined sales tax code (state + county + city); GB, AU and CA get their VAT/GST
codes with separate sales and purchase rates, as QuickBooks sets them up; any other country gets a
generic VAT set.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from sandboxes.quickbooks.books import Books
from sandboxes.quickbooks.clock import metadata_time

CURRENCY_NAMES = {
    "USD": "United States Dollar", "GBP": "British Pound Sterling", "EUR": "Euro", "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar", "NZD": "New Zealand Dollar", "JPY": "Japanese Yen", "CHF": "Swiss Franc",
    "INR": "Indian Rupee", "ZAR": "South African Rand", "SGD": "Singapore Dollar",
}
# Units of USD per unit of each currency: the sandbox's fixed market for transactions that send no ExchangeRate.
USD_PER_UNIT = {
    "USD": Decimal("1"), "GBP": Decimal("1.27"), "EUR": Decimal("1.08"), "AUD": Decimal("0.66"), "CAD": Decimal("0.73"),
    "NZD": Decimal("0.61"), "JPY": Decimal("0.0067"), "CHF": Decimal("1.12"), "INR": Decimal("0.012"),
    "ZAR": Decimal("0.055"), "SGD": Decimal("0.74"),
}
COUNTRY_CURRENCY = {"US": "USD", "GB": "GBP", "AU": "AUD", "CA": "CAD"}



def exchange_rate(foreign: str, home: str) -> Decimal:
    """Home-currency units per unit of ``foreign`` (what a transaction's ExchangeRate means in QuickBooks)."""
    return (USD_PER_UNIT[foreign] / USD_PER_UNIT[home]).quantize(Decimal("0.000001"))


def new_realm_id() -> str:
    """A realm id shaped like Intuit's: 16 digits starting with 9."""
    return "9" + "".join(secrets.choice("0123456789") for _ in range(15))


def _put(books: Books, realm: str, entity: str, fields: dict[str, Any], entity_id: str | None = None) -> dict[str, Any]:
    """Store a list object QuickBooks itself owns (tax lists, company info): no API rules apply."""
    now = books.clock.now()
    entity_id = entity_id or str(books.store.next_value(realm, entity))
    stamp = metadata_time(now)
    body = {"Id": entity_id, "SyncToken": "0", "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
            **fields, "domain": "QBO", "sparse": False}
    books.store.put(realm, entity, entity_id, body, now)
    return body


def _rate(books: Books, realm: str, name: str, percent: str, agency: str) -> dict[str, Any]:
    return _put(books, realm, "TaxRate", {
        "Name": name, "Description": name, "Active": True, "RateValue": float(Decimal(percent)),
        "AgencyRef": {"value": "1", "name": agency}, "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
    })


def _code(books: Books, realm: str, name: str, description: str, sales: list[dict[str, Any]], purchase: list[dict[str, Any]],
          *, entity_id: str | None = None, taxable: bool = True) -> dict[str, Any]:
    def rate_list(rates: list[dict[str, Any]]) -> dict[str, Any]:
        return {"TaxRateDetail": [{"TaxRateRef": {"value": r["Id"], "name": r["Name"]}, "TaxTypeApplicable": "TaxOnAmount",
                                   "TaxOrder": 0} for r in rates]}

    return _put(books, realm, "TaxCode", {
        "Name": name, "Description": description, "Active": True, "Hidden": False, "Taxable": taxable,
        "TaxGroup": len(sales) > 1 or len(purchase) > 1, "SalesTaxRateList": rate_list(sales),
        "PurchaseTaxRateList": rate_list(purchase),
    }, entity_id)


def _tax_lists(books: Books, realm: str, country: str) -> dict[str, str]:
    """Create the country's tax codes; returns a few of their ids by role for the seed documents."""
    if country == "US":
        state = _rate(books, realm, "California State", "6.25", "California Department of Tax and Fee Administration")
        county = _rate(books, realm, "Alameda County", "1.0", "California Department of Tax and Fee Administration")
        city = _rate(books, realm, "Oakland City", "0.5", "California Department of Tax and Fee Administration")
        _code(books, realm, "TAX", "TAX", [], [], entity_id="TAX")
        _code(books, realm, "NON", "NON", [], [], entity_id="NON", taxable=False)
        combined = _code(books, realm, "California", "Oakland, CA: state, county and city", [state, county, city], [])
        state_only = _code(books, realm, "California State only", "California state rate", [state], [])
        return {"default": combined["Id"], "state_only": state_only["Id"]}
    if country == "GB":
        table = [("default", "20.0% S", "Standard rated", "20"), ("reduced", "5.0% R", "Reduced rated", "5"),
                 ("zero", "0.0% Z", "Zero rated", "0")]
        agency = "HM Revenue & Customs"
    elif country == "AU":
        table = [("default", "GST", "GST", "10"), ("zero", "FRE", "GST free", "0")]
        agency = "Australian Taxation Office"
    elif country == "CA":
        table = [("default", "HST ON", "Ontario HST", "13"), ("reduced", "GST", "GST", "5"),
                 ("zero", "Zero-rated", "Zero-rated", "0")]
        agency = "Canada Revenue Agency"
    else:
        table = [("default", "Standard", "Standard rate", "20"), ("reduced", "Reduced", "Reduced rate", "10"),
                 ("zero", "Zero", "Zero rate", "0")]
        agency = "Tax authority"
    ids: dict[str, str] = {}
    for role, name, description, percent in table:
        sales = _rate(books, realm, f"{name} (Sales)", percent, agency)
        purchase = _rate(books, realm, f"{name} (Purchase)", percent, agency)
        ids[role] = _code(books, realm, name, description, [sales], [purchase])["Id"]
    if country == "CA":
        gst = _rate(books, realm, "GST QC (Sales)", "5", agency)
        qst = _rate(books, realm, "QST (Sales)", "9.975", "Revenu Québec")
        gst_p = _rate(books, realm, "GST QC (Purchase)", "5", agency)
        qst_p = _rate(books, realm, "QST (Purchase)", "9.975", "Revenu Québec")
        ids["group"] = _code(books, realm, "GST/QST QC", "Quebec GST and QST", [gst, qst], [gst_p, qst_p])["Id"]
    exempt = _code(books, realm, "Exempt", "Exempt / out of scope", [], [], taxable=False)
    ids["exempt"] = exempt["Id"]
    return ids


def seed_company(books: Books, *, name: str, country: str = "US", currency: str | None = None,
                 multicurrency: bool = False, documents: bool = True, realm_id: str | None = None) -> dict[str, Any]:
    """Create a company and its starting books; returns its settings with ``realm_id`` and the seeded ids."""
    country = country.upper()
    currency = (currency or COUNTRY_CURRENCY.get(country, "EUR")).upper()
    if currency not in CURRENCY_NAMES:
        raise ValueError(f"unsupported currency {currency!r}; the sandbox knows {', '.join(sorted(CURRENCY_NAMES))}")
    realm = realm_id or new_realm_id()
    store = books.store
    settings = {"name": name, "country": country, "currency": currency, "multicurrency": multicurrency}
    with store.transaction():
        store.add_company(realm, settings, books.clock.now())
        today = books.clock.today()
        _put(books, realm, "CompanyInfo", {
            "CompanyName": name, "LegalName": f"{name} Ltd", "Country": country,
            "CompanyAddr": {"Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA" if country == "US" else "",
                            "PostalCode": "87999", "Country": country},
            "Email": {"Address": "noreply@example.com"}, "CompanyStartDate": today.isoformat(),
            "FiscalYearStartMonth": "January", "SupportedLanguages": "en", "DefaultTimeZone": "America/Los_Angeles",
            "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}, {"Name": "NeoEnabled", "Value": "true"}],
        }, "1")
        tax_ids = _tax_lists(books, realm, country)
        _put(books, realm, "Preferences", {
            "CurrencyPrefs": {"MultiCurrencyEnabled": multicurrency, "HomeCurrency": {"value": currency}},
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": country == "US",
                         **({"TaxGroupCodeRef": {"value": tax_ids["default"]}} if country == "US" else {})},
            "SalesFormsPrefs": {"CustomTxnNumbers": False, "AllowDiscount": True, "AllowShipping": False,
                                "DefaultItem": {"value": "1", "name": "Services"}},
            "VendorAndPurchasesPrefs": {"EnableBills": True, "BillableExpenseTracking": False},
        }, "1")
        accounts: dict[str, dict[str, Any]] = {}
        for key, account_name, account_type in (
            ("bank", "Checking", "Bank"), ("ar", "Accounts Receivable (A/R)", "Accounts Receivable"),
            ("undeposited", "Undeposited Funds", "Other Current Asset"), ("ap", "Accounts Payable (A/P)", "Accounts Payable"),
            ("services", "Services", "Income"), ("sales", "Sales of Product Income", "Income"),
            ("office", "Office Expenses", "Expense"), ("utilities", "Utilities", "Expense"),
            ("advertising", "Advertising", "Expense"), ("legal", "Legal & Professional Fees", "Expense"),
            ("card", "Visa", "Credit Card"), ("tax", "Sales Tax Payable" if country == "US" else "VAT Control",
                                              "Other Current Liability"),
        ):
            accounts[key] = books.create(realm, "Account", {"Name": account_name, "AccountType": account_type})
        store.set_meta(f"ap_account:{realm}", accounts["ap"]["Id"])
        store.set_meta(f"undeposited_account:{realm}", accounts["undeposited"]["Id"])
        services = books.create(realm, "Item", {"Name": "Services", "Type": "Service",
                                                "IncomeAccountRef": {"value": accounts["services"]["Id"]}})
        store.set_meta(f"default_item:{realm}", services["Id"])
        if country == "US":
            store.set_meta(f"default_sales_tax_code:{realm}", tax_ids["default"])
        consulting = books.create(realm, "Item", {"Name": "Consulting", "Type": "Service", "UnitPrice": 150,
                                                  "IncomeAccountRef": {"value": accounts["services"]["Id"]}})
        vendors = [books.create(realm, "Vendor", {"DisplayName": n, "CompanyName": n})
                   for n in ("Hicks Hardware", "Brosnahan Insurance Agency", "Lee Advertising")]
        customers = [books.create(realm, "Customer", {"DisplayName": n, "CompanyName": n})
                     for n in ("Amy's Bird Sanctuary", "Bill's Windsurf Shop", "Cool Cars")]
        seeded: dict[str, Any] = {"accounts": {k: v["Id"] for k, v in accounts.items()}, "tax_codes": tax_ids,
                                  "items": {"services": services["Id"], "consulting": consulting["Id"]},
                                  "vendors": [v["Id"] for v in vendors], "customers": [c["Id"] for c in customers]}
        if multicurrency:
            foreign = "EUR" if currency != "EUR" else "USD"
            seeded["foreign_vendor"] = books.create(realm, "Vendor", {"DisplayName": f"Overseas Supplies ({foreign})",
                                                                      "CurrencyRef": {"value": foreign}})["Id"]
            seeded["foreign_customer"] = books.create(realm, "Customer", {"DisplayName": f"Overseas Client ({foreign})",
                                                                          "CurrencyRef": {"value": foreign}})["Id"]
        if documents:
            seeded.update(_documents(books, realm, country, accounts, tax_ids, services, consulting, vendors, customers))
    return {"realm_id": realm, **settings, "seeded": seeded}


def _documents(books: Books, realm: str, country: str, accounts: dict[str, dict[str, Any]], tax_ids: dict[str, str],
               services: dict[str, Any], consulting: dict[str, Any], vendors: list[dict[str, Any]],
               customers: list[dict[str, Any]]) -> dict[str, Any]:
    us = country == "US"

    def bill_line(amount: int, account: str) -> dict[str, Any]:
        detail: dict[str, Any] = {"AccountRef": {"value": accounts[account]["Id"]}}
        if not us:
            detail["TaxCodeRef"] = {"value": tax_ids["default"]}
        return {"Amount": amount, "DetailType": "AccountBasedExpenseLineDetail", "AccountBasedExpenseLineDetail": detail}

    def invoice_line(item: dict[str, Any], qty: int, price: int, taxable: bool = True) -> dict[str, Any]:
        detail: dict[str, Any] = {"ItemRef": {"value": item["Id"]}, "Qty": qty, "UnitPrice": price,
                                  "TaxCodeRef": {"value": ("TAX" if taxable else "NON") if us else
                                                 (tax_ids["default"] if taxable else tax_ids["exempt"])}}
        return {"Amount": qty * price, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}

    bills = [
        books.create(realm, "Bill", {"VendorRef": {"value": vendors[0]["Id"]}, "DocNumber": "H-1001",
                                     "Line": [bill_line(250, "office"), bill_line(45, "utilities")]}),
        books.create(realm, "Bill", {"VendorRef": {"value": vendors[1]["Id"]}, "Line": [bill_line(1200, "legal")]}),
        books.create(realm, "Bill", {"VendorRef": {"value": vendors[2]["Id"]}, "Line": [bill_line(300, "advertising")]}),
    ]
    invoices = [
        books.create(realm, "Invoice", {"CustomerRef": {"value": customers[0]["Id"]},
                                        "Line": [invoice_line(services, 2, 100), invoice_line(consulting, 1, 150, False)]}),
        books.create(realm, "Invoice", {"CustomerRef": {"value": customers[1]["Id"]}, "Line": [invoice_line(services, 5, 80)]}),
        books.create(realm, "Invoice", {"CustomerRef": {"value": customers[2]["Id"]}, "Line": [invoice_line(consulting, 3, 150)]}),
    ]
    payment = books.create(realm, "Payment", {
        "CustomerRef": {"value": customers[0]["Id"]}, "TotalAmt": 100,
        "Line": [{"Amount": 100, "LinkedTxn": [{"TxnId": invoices[0]["Id"], "TxnType": "Invoice"}]}],
    })
    bill_payment = books.create(realm, "BillPayment", {
        "VendorRef": {"value": vendors[2]["Id"]}, "PayType": "Check", "TotalAmt": bills[2]["TotalAmt"],
        "CheckPayment": {"BankAccountRef": {"value": accounts["bank"]["Id"]}},
        "Line": [{"Amount": bills[2]["TotalAmt"], "LinkedTxn": [{"TxnId": bills[2]["Id"], "TxnType": "Bill"}]}],
    })
    return {"bills": [b["Id"] for b in bills], "invoices": [i["Id"] for i in invoices], "payments": [payment["Id"]],
            "bill_payments": [bill_payment["Id"]]}
