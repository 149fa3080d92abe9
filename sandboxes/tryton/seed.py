"""Seeds a freshly initialized Tryton database through proteus (in-process trytond).

Run by ``sandboxes.tryton.sandbox`` in a subprocess, by file path, so it needs nothing but trytond and
proteus: ``python seed.py --config trytond.conf --database sync_demo --output seed.json``.
The fiscal year spans today-6 months..today+5 months, so posting works for today's dates. A payment method
("Cash", on the chart's cash account) lets invoices be paid.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

COMPANY_NAME = "Sandbox Company"
#: Currencies besides the company's USD: (code, name, ISO 4217 decimals, units per USD).
FOREIGN_CURRENCIES = [
    ("EUR", "Euro", 2, "0.92"),
    ("JPY", "Yen", 0, "150"),
    ("KWD", "Kuwaiti Dinar", 3, "0.307"),
]
CUSTOMER_NAME = "Acme Customer"
SUPPLIER_NAME = "Globex Supplier"

#: (reference, [(description, quantity, unit price, tax name)], post)
BILLS: list[tuple[str, list[tuple[str, str, str, str]], bool]] = [
    ("BILL-0001", [("Office chairs", "2", "60.00", "VAT 20%")], True),
    ("BILL-0002", [("Printer paper", "10", "4.50", "VAT 10%"), ("Toner", "1", "80.00", "VAT 20%")], True),
    ("BILL-0003", [("Cleaning services", "1", "150.00", "VAT 20%")], False),
]
INVOICES: list[tuple[str, list[tuple[str, str, str, str]], bool]] = [
    ("CUST-0001", [("Consulting", "3", "100.00", "VAT 20%")], True),
    ("CUST-0002", [("Widget subscription", "2", "99.95", "VAT 20%")], False),
    ("CUST-0003", [("Training day", "1", "500.00", "VAT 10%"), ("Travel", "1", "42.10", "VAT 20%")], False),
]


def seed(config_file: str, database: str) -> dict[str, Any]:
    from proteus import Model
    from proteus import config as proteus_config

    proteus_config.set_trytond(database, user="admin", config_file=config_file)

    from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, create_tax, get_accounts
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term,
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import create_company, get_company

    Party = Model.get("party.party")
    company_party = Party(name=COMPANY_NAME)
    company_party.save()
    create_company(party=company_party, currency="USD")
    company = get_company()

    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company))
    fiscalyear.click("create_period")

    create_chart(company)
    accounts = get_accounts(company)

    Tax = Model.get("account.tax")
    taxes: dict[str, Any] = {}
    for name, rate in (("VAT 20%", "0.20"), ("VAT 10%", "0.10")):
        tax = create_tax(Decimal(rate))
        tax.name = tax.description = name
        tax.save()
        taxes[name] = tax

    Currency = Model.get("currency.currency")
    Rate = Model.get("currency.currency.rate")
    currencies = {"USD": company.currency}
    for code, name, digits, per_usd in FOREIGN_CURRENCIES:
        currency = Currency(name=name, code=code, symbol=code, digits=digits,
                            rounding=Decimal(1).scaleb(-digits))
        currency.save()
        Rate(date=dt.date.min, rate=Decimal(per_usd), currency=currency).save()
        currencies[code] = currency

    payment_term = create_payment_term()
    payment_term.save()

    # How payments are recorded (the invoice pay wizard asks for a payment method): cash, on the chart's cash account.
    Journal = Model.get("account.journal")
    PaymentMethod = Model.get("account.invoice.payment.method")
    (cash_journal,) = Journal.find([("type", "=", "cash")])
    payment_method = PaymentMethod(name="Cash", journal=cash_journal, debit_account=accounts["cash"],
                                   credit_account=accounts["cash"])
    payment_method.save()

    customer = Party(name=CUSTOMER_NAME, customer_payment_term=payment_term)
    customer.save()
    supplier = Party(name=SUPPLIER_NAME, supplier_payment_term=payment_term)
    supplier.save()

    Invoice = Model.get("account.invoice")
    today = dt.date.today()
    created: dict[str, list[dict[str, Any]]] = {"in": [], "out": []}
    to_post = []
    for type_, party, account, specs in (
        ("in", supplier, accounts["expense"], BILLS),
        ("out", customer, accounts["revenue"], INVOICES),
    ):
        for reference, lines, post in specs:
            invoice = Invoice(type=type_, party=party, invoice_date=today, reference=reference)
            for description, quantity, unit_price, tax_name in lines:
                line = invoice.lines.new()
                line.account = account
                line.description = description
                line.quantity = float(quantity)
                line.unit_price = Decimal(unit_price)
                line.taxes.append(Tax(taxes[tax_name].id))
            invoice.save()
            if post:
                to_post.append(invoice)
            created[type_].append({"id": invoice.id, "reference": reference, "posted": post})
    for invoice in to_post:
        invoice.click("post")

    return {
        "company": {"id": company.id, "name": COMPANY_NAME, "currency": "USD"},
        "customer": {"id": customer.id, "name": CUSTOMER_NAME},
        "supplier": {"id": supplier.id, "name": SUPPLIER_NAME},
        "taxes": {name: {"id": tax.id, "rate": str(tax.rate)} for name, tax in taxes.items()},
        "currencies": {code: {"id": currency.id, "digits": currency.digits} for code, currency in currencies.items()},
        "accounts": {kind: {"id": account.id, "code": account.code} for kind, account in accounts.items()},
        "invoices": created,
        "payment_method": {"id": payment_method.id, "name": "Cash", "account": accounts["cash"].id},
        "invoice_date": today.isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    summary = seed(args.config, args.database)
    Path(args.output).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
