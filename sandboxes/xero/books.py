"""A tenant's books as Xero keeps them: contacts, items, invoices and bills with their money, payments.

What follows Xero's documentation (developer.xero.com/documentation/api/accounting/invoices, /payments,
/contacts, /items, /types):

- Money: a line's ``LineAmount`` is ``Quantity × UnitAmount`` less ``DiscountRate`` %, rounded to the
  currency's minor unit (half away from zero); its ``TaxAmount`` comes from the rate of the line's
  ``TaxType`` (the account's default tax type when the line names none): ``LineAmount × rate`` when amounts
  are ``Exclusive``, ``LineAmount × rate / (1 + rate)`` when ``Inclusive``, nothing when ``NoTax``.
  ``SubTotal`` is the sum of the lines net of tax, ``TotalTax`` the sum of the lines' tax, ``Total`` both.
  A given ``TaxAmount`` overrides the computed one, as Xero allows.
- Validation errors are data: each invoice gets its ``ValidationErrors`` and the request decides whether
  they fail the batch (``summarizeErrors``). The messages are Xero's wording where it is known
  ("Account code '999' is not a valid code for this document.", "The TaxType code 'X' does not exist or
  cannot be used for this type of transaction.", "Invoice not of valid status for modification",
  "Payment amount exceeds the amount outstanding on this document.").
- Status: an invoice is created DRAFT (default), SUBMITTED or AUTHORISED; DRAFT and SUBMITTED can move
  forward or be DELETED; AUTHORISED can be VOIDED when it has no payments; PAID, VOIDED and DELETED
  invoices can no longer be modified. Payments go against AUTHORISED invoices, never beyond ``AmountDue``;
  a fully paid invoice becomes PAID; deleting its payment makes it AUTHORISED again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandboxes.xero.formats import (
    decimal_of,
    json_number,
    ms_date,
    ms_datetime,
    parse_xero_date,
    round_money,
)
from sandboxes.xero.store import Store

INVOICE_TYPES_PAYABLE = {"ACCPAY", "ACCPAYCREDIT", "APOVERPAYMENT", "APPREPAYMENT"}
EDITABLE = {"DRAFT", "SUBMITTED", "AUTHORISED"}
MOVES = {  # status → statuses it may become (docs: invoices "Status codes" and "Updating invoices")
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "VOIDED"},
}
NOT_MODIFIABLE = "Invoice not of valid status for modification"
HAS_PAYMENTS = "This document cannot be edited as it has a payment or credit note allocated to it."


@dataclass
class Outcome:
    """One element of a batch: the object as Xero would answer with it, and its validation errors."""

    doc: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    id_field: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def answer(self) -> dict[str, Any]:
        """The element as it appears in a ``summarizeErrors=false`` answer (Xero's StatusAttributeString)."""
        doc = plain(self.doc)
        if self.errors:
            doc["ValidationErrors"] = [{"Message": message} for message in self.errors]
            doc["StatusAttributeString"] = "ERROR"
            flag = _ERROR_FLAGS.get(self.id_field)
            if flag:
                doc[flag] = True
        else:
            doc["StatusAttributeString"] = "OK"
        return doc


_ERROR_FLAGS = {"InvoiceID": "HasErrors", "ContactID": "HasValidationErrors", "PaymentID": "HasValidationErrors"}


def plain(value: Any) -> Any:
    """Request data (Decimals from the JSON parser) as JSON-able data."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def new_id() -> str:
    return str(uuid.uuid4())


class Books:
    """One tenant's books inside one store transaction; ``now_ms`` stamps every change of the call."""

    def __init__(self, store: Store, tenant_id: str, now_ms: int) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.now_ms = now_ms
        tenant = store.tenant(tenant_id)
        assert tenant is not None
        self.base_currency = str(tenant["base_currency"])
        self._accounts: dict[str, dict[str, Any]] | None = None
        self._tax_rates: dict[str, dict[str, Any]] | None = None

    # -- reference data ---------------------------------------------------------------------------

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        if self._accounts is None:
            self._accounts = {a["Code"].upper(): a for a in self.store.list(self.tenant_id, "accounts") if a.get("Code")}
        return self._accounts

    @property
    def tax_rates(self) -> dict[str, dict[str, Any]]:
        if self._tax_rates is None:
            self._tax_rates = {t["TaxType"].upper(): t for t in self.store.list(self.tenant_id, "taxrates")}
        return self._tax_rates

    def currencies(self) -> set[str]:
        return {c["Code"] for c in self.store.list(self.tenant_id, "currencies")}

    def _save(self, kind: str, doc_id: str, doc: dict[str, Any], number: str | None = None) -> None:
        doc["UpdatedDateUTC"] = ms_datetime(self.now_ms)
        self.store.put(self.tenant_id, kind, doc_id, doc, self.now_ms, number)

    # -- contacts ---------------------------------------------------------------------------------

    def find_contact(self, reference: dict[str, Any]) -> dict[str, Any] | None:
        if reference.get("ContactID"):
            return self.store.get(self.tenant_id, "contacts", str(reference["ContactID"]))
        if reference.get("ContactNumber"):
            for contact in self.store.list(self.tenant_id, "contacts"):
                if contact.get("ContactNumber") == reference["ContactNumber"]:
                    return contact
        if reference.get("Name"):
            matches = self.store.by_number(self.tenant_id, "contacts", str(reference["Name"]).strip().lower())
            return matches[0] if matches else None
        return None

    def save_contact(self, given: dict[str, Any], *, create_only: bool, target_id: str | None = None) -> Outcome:
        existing = None
        if target_id is not None:
            existing = self.store.get(self.tenant_id, "contacts", target_id)
            if existing is None:
                return Outcome(plain(given), [f"Contact '{target_id}' could not be found."], "ContactID")
        elif not create_only and (given.get("ContactID") or given.get("Name")):
            existing = self.find_contact({k: given.get(k) for k in ("ContactID", "Name")})
            if existing is None and given.get("ContactID"):
                return Outcome(plain(given), [f"Contact '{given['ContactID']}' could not be found."], "ContactID")
        elif create_only and given.get("ContactID"):
            return Outcome(plain(given), ["ContactID cannot be specified when creating a contact."], "ContactID")
        doc = dict(existing) if existing else {
            "ContactID": new_id(), "ContactStatus": "ACTIVE", "Addresses": [], "Phones": [], "ContactGroups": [],
            "ContactPersons": [], "IsSupplier": False, "IsCustomer": False, "HasAttachments": False,
            "HasValidationErrors": False,
        }
        doc.update(plain({k: v for k, v in given.items() if k != "ContactID"}))
        name = str(doc.get("Name") or "").strip()
        errors: list[str] = []
        if not name:
            errors.append("The contact name must be specified.")
        else:
            clash = [c for c in self.store.by_number(self.tenant_id, "contacts", name.lower())
                     if c["ContactID"] != doc["ContactID"] and c.get("ContactStatus") == "ACTIVE"]
            if clash:
                errors.append(f"The contact name {name} is already assigned to another contact. "
                              "The contact name must be unique across all active contacts.")
        if errors:
            return Outcome(doc if existing else plain(given), errors, "ContactID")
        self._save("contacts", doc["ContactID"], doc, name.lower())
        return Outcome(doc, [], "ContactID")

    def _mark_contact(self, contact: dict[str, Any], invoice_type: str) -> None:
        flag = "IsSupplier" if invoice_type in INVOICE_TYPES_PAYABLE else "IsCustomer"
        if not contact.get(flag):
            contact[flag] = True
            self._save("contacts", contact["ContactID"], contact, str(contact.get("Name", "")).lower())

    # -- items ------------------------------------------------------------------------------------

    def save_item(self, given: dict[str, Any], *, create_only: bool, target_id: str | None = None) -> Outcome:
        items = self.store.list(self.tenant_id, "items")
        existing = None
        if target_id is not None:
            existing = self.store.get(self.tenant_id, "items", target_id)
            if existing is None:
                return Outcome(plain(given), [f"Item '{target_id}' could not be found."], "ItemID")
        elif given.get("ItemID"):
            existing = self.store.get(self.tenant_id, "items", str(given["ItemID"]))
            if existing is None:
                return Outcome(plain(given), [f"Item '{given['ItemID']}' could not be found."], "ItemID")
        elif not create_only:
            existing = next((i for i in items if i["Code"].lower() == str(given.get("Code", "")).lower()), None)
        doc = dict(existing) if existing else {"ItemID": new_id(), "IsSold": True, "IsPurchased": True,
                                               "IsTrackedAsInventory": False}
        doc.update(plain({k: v for k, v in given.items() if k != "ItemID"}))
        errors = []
        if any(i["Code"].lower() == str(doc["Code"]).lower() and i["ItemID"] != doc["ItemID"] for i in items):
            errors.append(f"Item code '{doc['Code']}' already exists.")
        for side in ("PurchaseDetails", "SalesDetails"):
            code = (doc.get(side) or {}).get("AccountCode")
            if code and str(code).upper() not in self.accounts:
                errors.append(f"Account code '{code}' is not a valid code for this document.")
        if errors:
            return Outcome(doc, errors, "ItemID")
        self._save("items", doc["ItemID"], doc, str(doc["Code"]).lower())
        return Outcome(doc, [], "ItemID")

    # -- invoices ---------------------------------------------------------------------------------

    def find_invoice(self, given: dict[str, Any]) -> dict[str, Any] | None:
        if given.get("InvoiceID"):
            return self.store.get(self.tenant_id, "invoices", str(given["InvoiceID"]))
        if given.get("InvoiceNumber"):
            matches = [i for i in self.store.by_number(self.tenant_id, "invoices", str(given["InvoiceNumber"]))
                       if i["Status"] not in ("DELETED", "VOIDED")]
            return matches[0] if matches else None
        return None

    def save_invoice(self, given: dict[str, Any], *, create_only: bool, target_id: str | None = None) -> Outcome:
        """Create or update one invoice; nothing is written when it has validation errors."""
        existing = None
        if target_id is not None:
            existing = self.store.get(self.tenant_id, "invoices", target_id)
            if existing is None:
                return Outcome(plain(given), [f"Invoice '{target_id}' could not be found."], "InvoiceID")
        elif not create_only:
            existing = self.find_invoice(given)
            if existing is None and given.get("InvoiceID"):
                return Outcome(plain(given), [f"Invoice '{given['InvoiceID']}' could not be found."], "InvoiceID")
        elif given.get("InvoiceID"):
            return Outcome(plain(given), ["InvoiceID cannot be specified when creating an invoice."], "InvoiceID")
        if existing is not None:
            return self._update_invoice(existing, given)
        return self._create_invoice(given)

    def _create_invoice(self, given: dict[str, Any]) -> Outcome:
        errors: list[str] = []
        doc: dict[str, Any] = {
            "Type": given.get("Type"), "InvoiceID": new_id(), "Payments": [], "CreditNotes": [], "Prepayments": [],
            "Overpayments": [], "AmountPaid": 0.0, "AmountCredited": 0.0, "IsDiscounted": False,
            "HasAttachments": False, "HasErrors": False, "SentToContact": False,
            "Status": given.get("Status", "DRAFT"), "LineAmountTypes": given.get("LineAmountTypes", "Exclusive"),
            "Reference": given.get("Reference", ""),
        }
        for key in ("Url", "BrandingThemeID", "SentToContact"):
            if key in given:
                doc[key] = plain(given[key])
        if not doc["Type"]:
            errors.append("Invoice Type must be specified.")
        if doc["Status"] not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"Invoices cannot be created with a status of {doc['Status']}.")
        self._apply_invoice_fields(doc, given, errors)
        return self._store_invoice(doc, given, errors, created=True)

    def _update_invoice(self, existing: dict[str, Any], given: dict[str, Any]) -> Outcome:
        doc = dict(existing)
        errors: list[str] = []
        status = given.get("Status", doc["Status"])
        if doc["Status"] not in EDITABLE:
            errors.append(NOT_MODIFIABLE)
        elif status not in MOVES[doc["Status"]]:
            errors.append(NOT_MODIFIABLE)
        elif doc["Payments"] and (status == "VOIDED" or set(given) - {"InvoiceID", "InvoiceNumber", "Status"}):
            errors.append(HAS_PAYMENTS)
        if errors:
            return Outcome(plain({**existing, **given}), errors, "InvoiceID")
        doc["Status"] = status
        if status in ("VOIDED", "DELETED"):
            doc["AmountDue"] = 0.0
            return self._store_invoice(doc, given, [], created=False, recompute=False)
        if "Type" in given and given["Type"] != doc["Type"]:
            errors.append("The Type of an invoice cannot be changed.")
        for key in ("Reference", "LineAmountTypes", "SentToContact", "Url", "BrandingThemeID"):
            if key in given:
                doc[key] = plain(given[key])
        self._apply_invoice_fields(doc, given, errors)
        return self._store_invoice(doc, given, errors, created=False)

    def _apply_invoice_fields(self, doc: dict[str, Any], given: dict[str, Any], errors: list[str]) -> None:
        if "Contact" in given or "Contact" not in doc:
            contact = self.find_contact(given.get("Contact") or {})
            if contact is None:
                reference = given.get("Contact") or {}
                if reference.get("ContactID"):
                    errors.append(f"The contact with ContactID '{reference['ContactID']}' does not exist.")
                elif reference.get("Name"):  # Xero creates a contact named on an invoice if it does not exist
                    created = self.save_contact({"Name": reference["Name"]}, create_only=True)
                    contact = created.doc if created.ok else None
                    errors += created.errors
                else:
                    errors.append("A Contact must be specified for this type of transaction")
            if contact is not None:
                doc["Contact"] = _contact_summary(contact)
                doc["_contact"] = contact
        for key in ("Date", "DueDate"):
            if key in given:
                day = parse_xero_date(str(given[key]))
                doc[key] = ms_date(day) if day else None
        if "Date" not in doc or doc["Date"] is None:
            doc["Date"] = ms_date(dt.datetime.fromtimestamp(self.now_ms / 1000, dt.UTC).date())
        if not doc.get("DueDate"):
            doc.pop("DueDate", None)
        currency = str(given.get("CurrencyCode") or doc.get("CurrencyCode") or self.base_currency)
        if currency != self.base_currency and currency not in self.currencies():
            errors.append(f"Organisation is not subscribed to currency {currency}")
        doc["CurrencyCode"] = currency
        if "CurrencyRate" in given:
            doc["CurrencyRate"] = json_number(decimal_of(given["CurrencyRate"]))
        elif currency == self.base_currency or "CurrencyRate" not in doc:
            doc["CurrencyRate"] = 1.0 if currency == self.base_currency else _day_rate(self.base_currency, currency)
        if "InvoiceNumber" in given:
            doc["InvoiceNumber"] = str(given["InvoiceNumber"])
        if "LineItems" in given:
            doc["LineItems"] = self._lines(doc, given["LineItems"], errors)
        elif "LineItems" not in doc:
            doc["LineItems"] = []

    def _lines(self, doc: dict[str, Any], given: list[dict[str, Any]], errors: list[str]) -> list[dict[str, Any]]:
        previous = {line.get("LineItemID"): line for line in doc.get("LineItems", [])}
        lines = []
        for item in given:
            line = dict(previous.get(item.get("LineItemID"), {})) if item.get("LineItemID") else {}
            for computed in ("LineAmount", "TaxAmount"):  # recomputed unless this request gives them
                line.pop(computed, None)
            line.update(item)
            line["_explicit_tax"] = item.get("TaxAmount") is not None
            line.setdefault("LineItemID", new_id())
            line["Tracking"] = line.get("Tracking", [])
            if item.get("ItemCode"):
                known = [i for i in self.store.by_number(self.tenant_id, "items", str(item["ItemCode"]).lower())]
                if not known:
                    errors.append(f"Item code '{item['ItemCode']}' is not valid.")
                else:
                    details = known[0].get("PurchaseDetails" if doc["Type"] in INVOICE_TYPES_PAYABLE else "SalesDetails") or {}
                    for source, target in (("AccountCode", "AccountCode"), ("TaxType", "TaxType"), ("UnitPrice", "UnitAmount")):
                        if details.get(source) is not None and target not in item:
                            line[target] = decimal_of(details[source]) if target == "UnitAmount" else details[source]
            code = line.get("AccountCode")
            account = self.accounts.get(str(code).upper()) if code else None
            if code and account is None:
                errors.append(f"Account code '{code}' is not a valid code for this document.")
            if not line.get("TaxType") and account is not None and account.get("TaxType"):
                line["TaxType"] = account["TaxType"]
            tax_type = line.get("TaxType")
            if tax_type and str(tax_type).upper() not in self.tax_rates:
                errors.append(f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction.")
            for amount in ("Quantity", "UnitAmount", "LineAmount", "TaxAmount", "DiscountRate"):
                if amount in line and line[amount] is not None:
                    line[amount] = decimal_of(line[amount])
            if line.get("Quantity") is not None and line["Quantity"] < 0:  # type: ignore[operator]
                errors.append(f"The quantity value '{line['Quantity']:.4f}' is invalid. Quantity must not be less than zero.")
            lines.append(line)
        return lines

    def _store_invoice(self, doc: dict[str, Any], given: dict[str, Any], errors: list[str], *, created: bool,
                       recompute: bool = True) -> Outcome:
        contact = doc.pop("_contact", None)
        if recompute and not errors:
            self._compute(doc, errors)
        if doc["Status"] in ("SUBMITTED", "AUTHORISED") and not errors:
            for line in doc["LineItems"]:
                if not line.get("AccountCode"):
                    errors.append("Account code must be specified.")  # drafts may leave it empty
                    break
            if not doc["LineItems"]:
                errors.append("An invoice must have at least one line item to be approved.")
        number = doc.get("InvoiceNumber")
        if not errors and doc["Type"] not in INVOICE_TYPES_PAYABLE:
            if not number:
                number = doc["InvoiceNumber"] = f"INV-{self.store.next_sequence(self.tenant_id, 'invoice-number'):04d}"
            clash = [i for i in self.store.by_number(self.tenant_id, "invoices", str(number))
                     if i["InvoiceID"] != doc["InvoiceID"] and i["Type"] == doc["Type"]]
            if clash:
                errors.append("Invoice # must be unique.")
        if errors:
            shown = plain(given) if created else plain({**doc, **given})
            shown.pop("_contact", None)
            return Outcome(shown, errors, "InvoiceID")
        if contact is not None:
            self._mark_contact(contact, str(doc["Type"]))
            doc["Contact"] = _contact_summary(contact)
        stored = plain(doc)
        self._save("invoices", doc["InvoiceID"], stored, str(number) if number else None)
        return Outcome(stored, [], "InvoiceID")

    def _compute(self, doc: dict[str, Any], errors: list[str]) -> None:
        currency = doc["CurrencyCode"]
        mode = doc["LineAmountTypes"]
        sub_total = total_tax = total_discount = Decimal(0)
        for line in doc["LineItems"]:
            explicit_tax = line.pop("_explicit_tax", False)
            for key in ("Quantity", "UnitAmount", "LineAmount", "TaxAmount", "DiscountRate"):
                if line.get(key) is not None:
                    line[key] = decimal_of(line[key])
            quantity = line.get("Quantity")
            unit = line.get("UnitAmount")
            discount = line.get("DiscountRate") or Decimal(0)
            if quantity is None and unit is not None:
                quantity = line["Quantity"] = Decimal(1)
            if quantity is not None and unit is not None:
                gross = quantity * unit
                amount = round_money(gross * (Decimal(100) - discount) / Decimal(100), currency)
                given_amount = line.get("LineAmount")
                if given_amount is not None and round_money(given_amount, currency) != amount:
                    errors.append(f"The line total {given_amount} does not match the expected line total {amount}")
                total_discount += round_money(gross, currency) - amount
            elif line.get("LineAmount") is not None:
                amount = round_money(line["LineAmount"], currency)
            else:
                amount = Decimal(0)
            line["LineAmount"] = amount
            if mode == "NoTax":
                line["TaxType"] = line.get("TaxType") or "NONE"
                tax = Decimal(0)
            else:
                rate = _effective_rate(self.tax_rates.get(str(line.get("TaxType") or "NONE").upper())) / Decimal(100)
                computed = amount * rate / (Decimal(1) + rate) if mode == "Inclusive" else amount * rate
                tax = round_money(line["TaxAmount"] if explicit_tax else computed, currency)
            line["TaxAmount"] = tax
            total_tax += tax
            sub_total += amount - tax if mode == "Inclusive" else amount
        doc["SubTotal"] = sub_total
        doc["TotalTax"] = total_tax
        doc["Total"] = sub_total + total_tax
        doc["TotalDiscount"] = total_discount
        doc["IsDiscounted"] = total_discount != 0
        paid = decimal_of(doc.get("AmountPaid", 0))
        doc["AmountDue"] = doc["Total"] - paid

    # -- payments ---------------------------------------------------------------------------------

    def save_payment(self, given: dict[str, Any]) -> Outcome:
        errors: list[str] = []
        invoice = self.find_invoice(given.get("Invoice") or {})
        if invoice is None:
            errors.append("Invoice could not be found.")
        account = None
        reference = given.get("Account") or {}
        if reference.get("AccountID"):
            account = next((a for a in self.accounts.values() if a["AccountID"] == str(reference["AccountID"]).lower()), None)
        elif reference.get("Code"):
            account = self.accounts.get(str(reference["Code"]).upper())
        if account is None:
            errors.append("Account could not be found.")
        elif account.get("Type") != "BANK" and not account.get("EnablePaymentsToAccount"):
            errors.append("Payments can only be made to a bank account or an account with payments enabled.")
        amount = decimal_of(given["Amount"]) if given.get("Amount") is not None else None
        if amount is None or amount <= 0:
            errors.append("Payment amount must be greater than zero.")
        if invoice is not None and not errors:
            if invoice["Status"] != "AUTHORISED":
                errors.append("Payments can only be made against Authorised documents.")
            elif amount is not None and round_money(amount, invoice["CurrencyCode"]) > decimal_of(invoice["AmountDue"]):
                errors.append("Payment amount exceeds the amount outstanding on this document.")
        if errors:
            return Outcome(plain(given), errors, "PaymentID")
        assert invoice is not None and account is not None and amount is not None
        day = parse_xero_date(str(given["Date"])) if given.get("Date") else None
        day = day or dt.datetime.fromtimestamp(self.now_ms / 1000, dt.UTC).date()
        amount = round_money(amount, invoice["CurrencyCode"])
        payment = {
            "PaymentID": new_id(), "Date": ms_date(day), "Amount": json_number(amount),
            "Reference": str(given.get("Reference", "")), "CurrencyRate": invoice.get("CurrencyRate", 1.0),
            "PaymentType": "ACCPAYPAYMENT" if invoice["Type"] in INVOICE_TYPES_PAYABLE else "ACCRECPAYMENT",
            "Status": "AUTHORISED", "IsReconciled": bool(given.get("IsReconciled", False)), "HasAccount": True,
            "HasValidationErrors": False,
            "Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
            "Invoice": {"InvoiceID": invoice["InvoiceID"], "InvoiceNumber": invoice.get("InvoiceNumber", ""),
                        "Type": invoice["Type"], "Contact": invoice["Contact"], "CurrencyCode": invoice["CurrencyCode"],
                        "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                        "HasErrors": False, "IsDiscounted": invoice.get("IsDiscounted", False)},
        }
        self._save("payments", payment["PaymentID"], payment)
        self._apply_payment(invoice, payment, amount, day)
        return Outcome(payment, [], "PaymentID")

    def delete_payment(self, payment_id: str) -> Outcome:
        payment = self.store.get(self.tenant_id, "payments", payment_id)
        if payment is None:
            return Outcome({"PaymentID": payment_id}, [f"Payment '{payment_id}' could not be found."], "PaymentID")
        if payment["Status"] == "DELETED":
            return Outcome(payment, ["This payment has already been deleted."], "PaymentID")
        payment["Status"] = "DELETED"
        self._save("payments", payment["PaymentID"], payment)
        invoice = self.store.get(self.tenant_id, "invoices", payment["Invoice"]["InvoiceID"])
        if invoice is not None:
            self._apply_payment(invoice, payment, -decimal_of(payment["Amount"]), None)
        return Outcome(payment, [], "PaymentID")

    def _apply_payment(self, invoice: dict[str, Any], payment: dict[str, Any], amount: Decimal,
                       day: dt.date | None) -> None:
        paid = decimal_of(invoice["AmountPaid"]) + amount
        due = decimal_of(invoice["Total"]) - paid - decimal_of(invoice.get("AmountCredited", 0))
        invoice["AmountPaid"] = json_number(paid)
        invoice["AmountDue"] = json_number(due)
        summary = {key: payment[key] for key in ("PaymentID", "Date", "Amount", "Reference", "CurrencyRate",
                                                  "HasAccount", "HasValidationErrors")}
        if amount > 0:
            invoice["Payments"] = [*invoice["Payments"], summary]
        else:
            invoice["Payments"] = [p for p in invoice["Payments"] if p["PaymentID"] != payment["PaymentID"]]
        if due == 0 and day is not None:
            invoice["Status"] = "PAID"
            invoice["FullyPaidOnDate"] = ms_date(day)
        elif invoice["Status"] == "PAID" and due > 0:
            invoice["Status"] = "AUTHORISED"
            invoice.pop("FullyPaidOnDate", None)
        self._save("invoices", invoice["InvoiceID"], invoice, invoice.get("InvoiceNumber"))


def _contact_summary(contact: dict[str, Any]) -> dict[str, Any]:
    keys = ("ContactID", "ContactNumber", "AccountNumber", "ContactStatus", "Name", "FirstName", "LastName",
            "EmailAddress", "Addresses", "Phones", "ContactGroups", "ContactPersons", "IsSupplier", "IsCustomer",
            "DefaultCurrency", "HasValidationErrors", "UpdatedDateUTC")
    return {key: contact[key] for key in keys if key in contact}


def _effective_rate(tax_rate: dict[str, Any] | None) -> Decimal:
    """A tax rate's EffectiveRate in percent (compound components apply on top of the others)."""
    if tax_rate is None:
        return Decimal(0)
    return decimal_of(tax_rate.get("EffectiveRate", 0))


def effective_rate(components: list[dict[str, Any]]) -> Decimal:
    simple = sum((decimal_of(c["Rate"]) for c in components if not c.get("IsCompound")), Decimal(0))
    compound = sum((decimal_of(c["Rate"]) for c in components if c.get("IsCompound")), Decimal(0))
    return simple + compound + simple * compound / Decimal(100)


# Fixed stand-ins for the XE.com day rate Xero uses when an invoice gives no CurrencyRate: units per 1 USD.
_PER_USD = {"USD": Decimal("1"), "GBP": Decimal("0.79"), "EUR": Decimal("0.92"), "AUD": Decimal("1.52"),
            "NZD": Decimal("1.66"), "CAD": Decimal("1.36"), "JPY": Decimal("151"), "CHF": Decimal("0.88")}


def _day_rate(base: str, currency: str) -> float:
    """Units of ``currency`` per unit of ``base`` (Xero's CurrencyRate on a foreign-currency invoice)."""
    rate = _PER_USD.get(currency, Decimal(1)) / _PER_USD.get(base, Decimal(1))
    return json_number(rate.quantize(Decimal("0.000001")))
