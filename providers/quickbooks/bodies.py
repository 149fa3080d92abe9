"""The ``Bill`` or ``Invoice`` booksync sends for a document: every reference resolved and checked before anything
is sent, and a refusal named in booksync's fields.

Lines: bills take ``AccountBasedExpenseLineDetail`` (an ``Amount`` = quantity × unit price in the currency's
decimals, and the line's ``ledger_account_id``, else the setting ``expense_account_id``, else the company's first
expense account); invoices ``SalesItemLineDetail`` with ``Qty`` and ``UnitPrice`` exactly as given (and the
``Amount`` QuickBooks checks them against) and an ``ItemRef``: an item selling into the line's
``ledger_account_id`` when one is given, else the default item (``ReferenceData.default_item``); a line selling a
product (``product_platform_id``, a pushed ``Item``) names that item instead. A bill line's product is not sent:
QuickBooks' item-based expense lines want an item bought as well as sold, and booksync's products are sold.

Tax, by the company's model (``providers.quickbooks.mapping``): a US invoice names one sales tax code in
``TxnTaxDetail.TxnTaxCodeRef`` and marks each line TAX or NON (two different rates on one invoice are a
``DataError``; a US bill with tax is one too: QuickBooks keeps no tax on US bills); a global company's line
names its code, one whose rate for purchases (bills) or sales (invoices) is the line's, or the line's
``tax_rate_platform_id``; a line without a rate takes an exempt code, and a document without any rate says
``GlobalTaxCalculation: NotApplicable``. Amounts exclude tax (``TaxExcluded``): QuickBooks computes it.

The ``PrivateNote`` ends with the key's marker and a fingerprint of the rest of the body
(``mapping.with_marker``), so a retry that finds the document knows whether it must update it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from providers import money
from providers.errors import DataError, NotFoundError, ProviderError
from providers.quickbooks import mapping, models
from providers.quickbooks.client import dumps
from providers.quickbooks.mapping import PARTY, PARTY_REF, PartyIds, TaxTable
from providers.quickbooks.reference import ReferenceData, by_id
from providers.types import DocumentKind, LineItem, OutgoingDocument

DOC_NUMBER_MAX = 21
#: Fault code of a document number already used (invoices refuse duplicates).
DUPLICATE_NUMBER = "6140"
_LINE_INDEX = re.compile(r"Line\[(\d+)\]")


class DocumentBodies:
    def __init__(self, reference: ReferenceData, settings: Mapping[str, Any]) -> None:
        self.reference = reference
        self.settings = settings

    def body(self, document: OutgoingDocument, key: str) -> dict[str, Any]:
        kind = document.kind
        company = self.reference.company()
        if not document.lines:
            raise DataError(f"a {mapping.label(kind)} needs at least one line", field="lines")
        if not money.is_currency(document.currency):
            raise DataError(f"{document.currency!r} is not an ISO 4217 currency", field="currency",
                            value=document.currency)
        if document.currency != company.home_currency and not company.multicurrency:
            raise DataError(
                f"currency {document.currency} cannot be used: multicurrency is off in this QuickBooks Online company "
                f"(home currency {company.home_currency})", field="currency", value=document.currency)
        party = PartyIds.decode(document.counterpart_platform_id, plain=PARTY[kind]).of(PARTY[kind])
        if not party:
            raise DataError(f"counterpart {document.counterpart_platform_id} is not a QuickBooks Online "
                            f"{PARTY[kind].lower()}", field="counterpart_platform_id",
                            value=document.counterpart_platform_id)
        if document.document_number and len(document.document_number) > DOC_NUMBER_MAX:
            raise DataError(f"QuickBooks Online document numbers are {DOC_NUMBER_MAX} characters at most",
                            field="document_number", value=document.document_number)
        taxes = self.reference.taxes()
        untaxed = all(line.tax_rate_value is None and line.tax_rate_platform_id is None for line in document.lines)
        if untaxed and not taxes.us:
            codes: list[str | None] = [None] * len(document.lines)  # no rate anywhere: the document carries no tax
        else:
            codes = [self._line_tax(kind, line, index, taxes) for index, line in enumerate(document.lines)]
        body: dict[str, Any] = {PARTY_REF[kind]: {"value": party}, "CurrencyRef": {"value": document.currency}}
        if document.document_number:
            body["DocNumber"] = document.document_number
        if document.issue_date:
            body["TxnDate"] = document.issue_date.isoformat()
        if document.due_date:
            body["DueDate"] = document.due_date.isoformat()
        body["Line"] = [self._line(kind, document.currency, line, index, code, taxes.us)
                        for index, (line, code) in enumerate(zip(document.lines, codes, strict=True))]
        if taxes.us:
            code = _one_sales_tax(document, codes, taxes)
            if code is not None:
                body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": code}}
        else:
            body["GlobalTaxCalculation"] = "NotApplicable" if untaxed else "TaxExcluded"
        tag = hashlib.sha256(dumps({**body, "memo": document.memo or ""})).hexdigest()[:12]
        body["PrivateNote"] = mapping.with_marker(document.memo, key, tag=tag)
        return body

    def _line(self, kind: DocumentKind, currency: str, line: LineItem, index: int, code: str | None, us: bool
              ) -> dict[str, Any]:
        price = money.to_decimal(line.unit_price, currency)
        quantity = Decimal(line.quantity)
        amount = mapping.line_amount(quantity, price, currency)
        if kind is DocumentKind.PAYABLE:
            expense: dict[str, Any] = {"AccountRef": {"value": self._expense_account(line.ledger_account_id, index)}}
            if code is not None and not us:
                expense["TaxCodeRef"] = {"value": code}
            return {"Description": line.description, "Amount": amount, "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": expense}
        item = (self._product(line.product_platform_id, index) if line.product_platform_id is not None
                else self._sales_item(line.ledger_account_id, index))
        sales: dict[str, Any] = {"ItemRef": {"value": item}, "Qty": quantity, "UnitPrice": price}
        if us:
            sales["TaxCodeRef"] = {"value": mapping.US_NOT_TAXABLE if code in (None, mapping.US_NOT_TAXABLE)
                                   else mapping.US_TAXABLE}
        elif code is not None:
            sales["TaxCodeRef"] = {"value": code}
        return {"Description": line.description, "Amount": amount, "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": sales}

    def _line_tax(self, kind: DocumentKind, line: LineItem, index: int, taxes: TaxTable) -> str | None:
        return self.tax_code(kind, line.tax_rate_platform_id, line.tax_rate_value, taxes, prefix=f"lines[{index}].")

    def tax_code(self, kind: DocumentKind, platform_id: str | None, value: int | None, taxes: TaxTable, *,
                 prefix: str = "") -> str | None:
        """The tax code a line (or a product) takes: a global company's code, a US invoice's sales tax code (``NON``
        for an untaxed line), None for no tax. A rate QuickBooks lacks is a DataError on
        ``<prefix>tax_rate_value`` (or ``tax_rate_platform_id``) before anything is sent."""
        purchase = kind is DocumentKind.PAYABLE
        usage = "purchases" if purchase else "sales"
        if taxes.us and purchase:
            if platform_id or value:
                raise DataError(
                    "QuickBooks Online US companies put no sales tax on bills: send the bill's lines with any tax "
                    "included in their amounts and no tax rate", field=f"{prefix}tax_rate_value", value=value)
            return None
        if platform_id is not None:
            return self._named_code(platform_id, prefix, taxes, usage)
        if taxes.us:
            if not value:
                return mapping.US_NOT_TAXABLE
        elif value is None:
            return _no_tax_code(taxes, purchase)
        same: list[models.TaxCode] = []
        for refresh in (False, True):
            table = self.reference.taxes(refresh=refresh)
            candidates = [c for c in table.listed() if c.Active and table.value(c, purchase) == value]
            same = [c for c in table.listed() if table.value(c, not purchase) == value]
            usable = [c for c in candidates if table.has_rates(c, purchase) or value == 0]
            if usable:
                with_rates = [c for c in usable if table.has_rates(c, purchase)]
                return (with_rates or usable)[0].Id
        raise DataError(
            f"tax rate {mapping.format_rate(value)} does not exist in the accounting system"
            + (f" for {usage}" if same else ""), field=f"{prefix}tax_rate_value", value=value)

    def _named_code(self, wanted: str, prefix: str, taxes: TaxTable, usage: str) -> str:
        if taxes.us and wanted in (mapping.US_TAXABLE, mapping.US_NOT_TAXABLE):
            if wanted == mapping.US_NOT_TAXABLE:
                return wanted
            raise DataError("a US invoice line names the sales tax code to charge, not TAX",
                            field=f"{prefix}tax_rate_platform_id", value=wanted)
        code = self.reference.taxes().codes.get(wanted) or self.reference.taxes(refresh=True).codes.get(wanted)
        if code is None or not code.Active or (taxes.us and not taxes.has_rates(code, False)):
            raise DataError(f"tax rate {wanted} does not exist in the accounting system"
                            + ("" if code is None else " or cannot be used on " + usage),
                            field=f"{prefix}tax_rate_platform_id", value=wanted)
        return code.Id

    def _expense_account(self, wanted: str | None, index: int) -> str:
        if wanted is not None:
            account = self.reference.accounts().get(wanted) or self.reference.accounts(refresh=True).get(wanted)
            if account is None or not account.Active:
                raise DataError(f"ledger account {wanted} does not exist in the accounting system",
                                field=f"lines[{index}].ledger_account_id", value=wanted)
            if account.AccountType in ("Accounts Payable", "Accounts Receivable"):
                raise DataError(f"ledger account {wanted} ({account.Name}) is an {account.AccountType} account; a bill "
                                "line needs an expense account", field=f"lines[{index}].ledger_account_id", value=wanted)
            return account.Id
        setting = self.settings.get("expense_account_id")
        if setting:
            return str(setting)
        expenses = [a for a in by_id(self.reference.accounts().values()) if a.Active and a.AccountType == "Expense"]
        if not expenses:
            raise DataError("the accounting system has no expense account for bill lines", field="lines")
        return expenses[0].Id

    def _product(self, platform_id: str, index: int) -> str:
        """The item a line sells by the product's id (a pushed product: ``providers.quickbooks.products``)."""
        for refresh in (False, True):
            item = self.reference.items(refresh=refresh).get(platform_id)
            if item is not None and item.Active:
                return item.Id
        raise DataError(f"product {platform_id} does not exist in the accounting system (or is inactive)",
                        field=f"lines[{index}].product_platform_id", value=platform_id)

    def _sales_item(self, account: str | None, index: int) -> str:
        """The item an invoice line sells: one posting to ``account`` when given, else the default item."""
        if account is None:
            return self.reference.default_item()
        for refresh in (False, True):
            items = [i for i in by_id(self.reference.items(refresh=refresh).values())
                     if i.Active and i.IncomeAccountRef and i.IncomeAccountRef.value == account]
            if items:
                return items[0].Id
        raise DataError(
            f"no QuickBooks Online product or service sells into ledger account {account}: QuickBooks invoice lines "
            "post to their item's income account; create an item for that account, or leave the line's account out",
            field=f"lines[{index}].ledger_account_id", value=account)


def _one_sales_tax(document: OutgoingDocument, codes: list[str | None], taxes: TaxTable) -> str | None:
    """A US invoice's one sales tax code, or a DataError naming the first line that asks for another."""
    taxed = [(index, code) for index, code in enumerate(codes) if code not in (None, mapping.US_NOT_TAXABLE)]
    if not taxed:
        return None
    first = taxed[0][1]
    other = next(((index, code) for index, code in taxed if code != first), None)
    if other is not None:
        rates = [mapping.format_rate(taxes.value(taxes.codes[str(c)], False)) for c in (first, other[1])]
        raise DataError(
            f"a QuickBooks Online US invoice charges one sales tax for all its taxable lines; line "
            f"{taxed[0][0] + 1} asks for {rates[0]} and line {other[0] + 1} for {rates[1]}",
            field=f"lines[{other[0]}].tax_rate_value", value=document.lines[other[0]].tax_rate_value)
    return first


def _no_tax_code(taxes: TaxTable, purchase: bool) -> str | None:
    """A global company's line without a rate: an active code without tax (an exempt or out-of-scope one before a
    zero-rated one)."""
    zero = [c for c in taxes.listed() if c.Active and taxes.value(c, purchase) == 0]
    untaxed = [c for c in zero if not taxes.has_rates(c, purchase) or c.Taxable is False]
    chosen = (untaxed or zero or [None])[0]
    return chosen.Id if chosen is not None else None


def document_error(error: ProviderError, document: OutgoingDocument) -> ProviderError:
    """A QuickBooks refusal named in booksync's terms (``field``: the request's, not QuickBooks' element)."""
    if not isinstance(error, DataError) or isinstance(error, NotFoundError):
        return error
    codes = error.details.get("codes") or []
    if DUPLICATE_NUMBER in codes:
        return DataError(f"QuickBooks Online already has an invoice numbered {document.document_number}; invoice "
                         "numbers are unique there", field="document_number", value=document.document_number,
                         details=error.details)
    return DataError(error.message, field=field_of(error.field),
                     details={k: v for k, v in error.details.items() if k not in ("field", "value")})


def field_of(element: str | None) -> str:
    """A Fault's ``element`` (``Bill.Line[0].AccountBasedExpenseLineDetail.AccountRef``, ``DocNumber``...) as the
    field of booksync's document it is about."""
    text = element or ""
    line = _LINE_INDEX.search(text)
    leaf = text.rsplit(".", 1)[-1]
    if line:
        prefix = f"lines[{line.group(1)}]"
        return {"AccountRef": f"{prefix}.ledger_account_id", "ItemRef": f"{prefix}.ledger_account_id",
                "TaxCodeRef": f"{prefix}.tax_rate_value", "Qty": f"{prefix}.quantity",
                "UnitPrice": f"{prefix}.unit_price", "Amount": f"{prefix}.unit_price",
                "Description": f"{prefix}.description"}.get(leaf, prefix)
    return {"VendorRef": "counterpart_platform_id", "CustomerRef": "counterpart_platform_id",
            "DocNumber": "document_number", "CurrencyRef": "currency", "ExchangeRate": "currency",
            "TxnDate": "issue_date", "DueDate": "due_date", "PrivateNote": "memo",
            "TxnTaxCodeRef": "lines", "TaxCodeRef": "lines", "Line": "lines"}.get(leaf, text or "document")
