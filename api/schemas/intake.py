"""The platform's counterparts, payables and receivables as they come in (PUT by the platform's id) and go out."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, Strict, model_validator

from api.currencies import CURRENCY_CODES
from api.schemas.common import RequestModel, ResponseModel, TaxRateValue, Text
from models import PayableStatus, ReceivableStatus

MAX_AMOUNT = 10**15
MAX_LINE_ITEMS = 1000

CurrencyCode = enum.StrEnum("CurrencyCode", {code: code for code in CURRENCY_CODES})  # type: ignore[misc]

Amount = Annotated[
    int,
    Strict(),
    Field(
        ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="An integer in minor units of the currency (12.50 EUR is 1250)."
    ),
]
Quantity = Annotated[
    Decimal,
    Field(gt=0, le=10**12, max_digits=18, decimal_places=6, allow_inf_nan=False, description="Up to 6 decimals."),
]
ShortText = Annotated[Text, Field(max_length=255)]
CodeText = Annotated[Text, Field(max_length=128)]
LongText = Annotated[Text, Field(max_length=10_000)]
NumberOut = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class CounterpartIn(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=255)]
    type: Literal["organization", "individual"] = "organization"
    email: ShortText | None = None
    tax_id: Annotated[Text, Field(max_length=64)] | None = None
    is_customer: bool = False
    is_vendor: bool = False


class LineItemIn(RequestModel):
    description: LongText = ""
    quantity: Quantity = Decimal(1)
    unit_price: Amount = Field(description="In minor units of the document's currency (12.50 EUR is 1250).")
    total: Amount | None = Field(
        default=None, description="round(quantity × unit_price), half up; computed when left out, checked when given."
    )
    tax_rate_value: TaxRateValue | None = None
    accounting_tax_rate_id: uuid.UUID | None = Field(
        default=None, description="An accounting tax rate of the organization; instead of tax_rate_value."
    )
    ledger_account_id: CodeText | None = Field(
        default=None,
        description="A ledger account of the organization, by the id `GET /ledger-accounts` gives (booksync's "
        "UUID; an unknown one is refused); any other value is taken as the accounting system's own id.",
    )
    product_id: uuid.UUID | None = Field(
        default=None,
        description="The product the line sells (PUT /products/{id} first): pushed before the document, and on an "
        "invoice its ledger account is the line's when the line names none (booksync extension).",
    )

    @model_validator(mode="after")
    def _one_tax(self) -> LineItemIn:
        if self.tax_rate_value is not None and self.accounting_tax_rate_id is not None:
            raise ValueError("give tax_rate_value or accounting_tax_rate_id, not both")
        return self


class DocumentIn(RequestModel):
    counterpart_id: uuid.UUID = Field(description="A counterpart of the same organization (PUT /counterparts first).")
    document_number: CodeText | None = None
    currency: CurrencyCode  # type: ignore[valid-type]
    issue_date: date | None = None
    due_date: date | None = None
    memo: LongText | None = None
    subtotal: Amount = Field(description="The sum of the line totals, in minor units.")
    tax_amount: Amount = Field(description="In minor units.")
    total_amount: Amount = Field(description="subtotal + tax_amount, in minor units.")
    line_items: Annotated[list[LineItemIn], Field(min_length=1, max_length=MAX_LINE_ITEMS)]


class PayableIn(DocumentIn):
    status: PayableStatus


class ReceivableIn(DocumentIn):
    status: ReceivableStatus


class CounterpartResource(ResponseModel):
    id: uuid.UUID
    name: str
    type: str
    email: str | None
    tax_id: str | None
    is_customer: bool
    is_vendor: bool
    created_at: datetime
    updated_at: datetime


class LineItemResource(ResponseModel):
    description: str
    quantity: NumberOut
    unit_price: int = Field(description="Minor units.")
    total: int = Field(description="Minor units.")
    tax_rate_value: int | None
    accounting_tax_rate_id: uuid.UUID | None
    ledger_account_id: str | None
    product_id: uuid.UUID | None


class _DocumentResource(ResponseModel):
    id: uuid.UUID
    counterpart_id: uuid.UUID
    document_number: str | None
    currency: str
    status: str
    issue_date: date | None
    due_date: date | None
    memo: str | None
    subtotal: int = Field(description="Minor units.")
    tax_amount: int = Field(description="Minor units.")
    total_amount: int = Field(description="Minor units.")
    line_items: list[LineItemResource]
    eligible_at: datetime | None = Field(description="When the document first reached a status that is pushed.")
    created_at: datetime
    updated_at: datetime


class PayableResource(_DocumentResource):
    status: PayableStatus


class ReceivableResource(_DocumentResource):
    status: ReceivableStatus


class CounterpartList(ResponseModel):
    data: list[CounterpartResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None


class PayableList(ResponseModel):
    data: list[PayableResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None


class ReceivableList(ResponseModel):
    data: list[ReceivableResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None
