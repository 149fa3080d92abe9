"""The accounting system's own payables and receivables as of the last pull (reference: AccountingPayable,
AccountingReceivable). Amounts are integers in minor units of ``currency``, unlike the reference's numbers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel

MINOR_UNITS = "Integer, in minor units of the currency (12.50 EUR is 1250)."


class DocumentQuery(RequestModel):
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class TaxRateRef(ResponseModel):
    id: str = Field(description="The tax rate's id in the accounting system.")


class AccountingLineItem(ResponseModel):
    description: str | None = None
    quantity: float | None = None
    unit_amount: int | None = Field(default=None, description=MINOR_UNITS)
    total_amount: int | None = Field(default=None, description=MINOR_UNITS)
    tax_rate_value: int | None = Field(default=None, description="Hundredths of a percent.")
    tax_rate_ref: TaxRateRef | None = None
    ledger_account_id: str | None = None


class VendorRef(ResponseModel):
    id: str
    name: str | None = None


class CustomerRef(ResponseModel):
    id: str
    company_name: str | None = None


class _AccountingDocument(ResponseModel):
    id: str = Field(description="The document's id in the accounting system.")
    invoice_number: str | None
    reference: str | None
    currency: str | None
    status: str | None
    subtotal: int | None = Field(description=MINOR_UNITS)
    tax_amount: int | None = Field(description=MINOR_UNITS)
    total_amount: int | None = Field(description=MINOR_UNITS)
    amount_due: int | None = Field(description=MINOR_UNITS)
    posted_date: date | None = Field(description="The document's date in the accounting system.")
    due_date: date | None
    memo: str | None
    lines: list[AccountingLineItem]


class AccountingPayable(_AccountingDocument):
    vendor_ref: VendorRef | None


class AccountingReceivable(_AccountingDocument):
    customer_ref: CustomerRef | None


class AccountingPayableList(ResponseModel):
    data: list[AccountingPayable]


class AccountingReceivableList(ResponseModel):
    data: list[AccountingReceivable]
