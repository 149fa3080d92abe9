"""The accounting system's own payables and receivables as of the last pull (reference: AccountingPayable,
AccountingReceivable).

Amounts are numbers in the document's currency, as the reference has them (``144.00`` USD, ``1000`` JPY,
``1.234`` KWD), written with their exact digits (``api.responses.ExactJSONResponse``): booksync stores
minor units and converts with the currency's ISO 4217 exponent. booksync's own intake
(``PUT /payables/{id}``) takes minor units, as the platform's documents are.
Fields the accounting system has no value for are left out, never ``null``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field

from api.schemas.common import Number, RequestModel, WireModel

IN_CURRENCY = "A number in the document's currency (144.00 USD, 1000 JPY, 1.234 KWD), exactly as the accounting system has it."


class DocumentQuery(RequestModel):
    limit: Annotated[int, Field(ge=1, le=500, description="Number of results per page.")] = 100
    offset: Annotated[
        int, Field(ge=0, le=1_000_000, description="Number of results to skip before selecting items to return.")
    ] = 0


class TaxRateRef(WireModel):
    id: str = Field(
        description="booksync's id of the accounting system's tax rate: `GET /accounting-tax-rates/{id}` shows it."
    )


class AccountingLineItem(WireModel):
    """A line as the accounting system holds it. Tryton has no line discounts (in booksync's module set):
    ``discount_amount`` and ``discount_percentage`` are left out for it."""

    description: str | None = None
    quantity: Number | None = None
    unit_amount: Number | None = Field(default=None, description=IN_CURRENCY)
    discount_amount: Number | None = Field(default=None, description=IN_CURRENCY)
    discount_percentage: Number | None = Field(default=None, description="In percent: 12.5 is 12.5%.")
    total_amount: Number | None = Field(
        default=None, description=IN_CURRENCY + " The line's amount before tax (booksync extension)."
    )
    tax_rate_value: int | None = Field(
        default=None, description="The line's tax in hundredths of a percent: 20% is 2000 (booksync extension)."
    )
    tax_rate_ref: TaxRateRef | None = Field(
        default=None, description="The line's one tax rate; left out for none, several, or one not pulled."
    )
    ledger_account_id: str | None = Field(
        default=None,
        description="booksync's id of the line's ledger account: `GET /ledger-accounts/{id}` shows it. Left out "
        "when the line has none, or one booksync has not pulled.",
    )


class VendorRef(WireModel):
    id: str = Field(description="The vendor's id in the accounting system.")
    name: str | None = None


class CustomerRef(WireModel):
    id: str = Field(description="The customer's id in the accounting system.")
    company_name: str | None = None


class PurchaseOrderRef(WireModel):
    id: str
    name: str | None = None


class _AccountingDocument(WireModel):
    id: str = Field(description="The document's id in the accounting system.")
    invoice_number: str | None = None
    reference: str | None = Field(
        default=None, description="The accounting system's other number for it (booksync extension)."
    )
    currency: str | None = Field(default=None, description="ISO 4217.")
    currency_rate: Number | None = Field(
        default=None,
        description="Units of the company's (base) currency per unit of the document's, as the accounting system "
        "applied it (1 for a document in the base currency); left out when it applied none.",
    )
    subtotal: Number | None = Field(default=None, description=IN_CURRENCY + " Before tax.")
    tax_amount: Number | None = Field(default=None, description=IN_CURRENCY)
    amount_due: Number | None = Field(default=None, description=IN_CURRENCY + " What is still to be paid.")
    posted_date: date | None = Field(default=None, description="The document's date in the accounting system.")
    due_date: date | None = None
    memo: str | None = None
    lines: list[AccountingLineItem]


class AccountingPayable(_AccountingDocument):
    status: str = Field(description="open, draft, partially_paid, paid, unknown or void.")
    total_amount: Number = Field(description=IN_CURRENCY + " Tax included.")
    vendor_ref: VendorRef | None = None
    purchase_order_refs: list[PurchaseOrderRef] | None = Field(
        default=None, description="Left out where the accounting system links none (Tryton: no purchase module)."
    )


class AccountingReceivable(_AccountingDocument):
    status: str | None = Field(default=None, description="open, draft, partially_paid, paid, unknown or void.")
    total_amount: Number | None = Field(default=None, description=IN_CURRENCY + " Tax included.")
    customer_ref: CustomerRef | None = None
    pass_through: dict[str, Any] | None = Field(
        default=None,
        description="What else the accounting system holds on the invoice that has no field here: `reference` "
        "(its other number) and `updated_at` (its last change there). Left out when there is none.",
    )


class AccountingPayableList(WireModel):
    data: list[AccountingPayable]


class AccountingReceivableList(WireModel):
    data: list[AccountingReceivable]
