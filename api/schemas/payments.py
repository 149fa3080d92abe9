"""The platform's products and payment records as they come in (PUT by the platform's id) and go out."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from api.schemas.common import RequestModel, ResponseModel, TaxRateValue, Text
from api.schemas.intake import MAX_AMOUNT, CodeText, CurrencyCode, LongText, ShortText
from models import PaymentRecordStatus, ProductKind

PositiveAmount = Annotated[
    int, Strict(), Field(ge=1, le=MAX_AMOUNT, description="An integer in minor units of the currency (12.50 EUR is 1250).")
]
UnitPrice = Annotated[
    int, Strict(), Field(ge=0, le=MAX_AMOUNT, description="In minor units of `currency` (12.50 EUR is 1250).")
]


class ProductIn(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=255)]
    description: LongText | None = None
    type: ProductKind = Field(default=ProductKind.SERVICE, description="`product` (goods) or `service`.")
    unit_price: UnitPrice | None = None
    currency: CurrencyCode | None = Field(  # type: ignore[valid-type]
        default=None, description="The unit price's currency; required with `unit_price`."
    )
    unit: Annotated[Text, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="What one unit is (`hour`, `day`, `kg`...); the accounting system's unit of that "
        "name or symbol is used.",
    )
    ledger_account_id: CodeText | None = Field(
        default=None,
        description="The ledger account the product is sold with, by the id `GET /ledger-accounts` gives (or the "
        "accounting system's own id). Without one, the connection's default product account applies.",
    )
    tax_rate_value: TaxRateValue | None = None
    accounting_tax_rate_id: uuid.UUID | None = Field(
        default=None, description="An accounting tax rate of the organization; instead of tax_rate_value."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ProductIn:
        if self.tax_rate_value is not None and self.accounting_tax_rate_id is not None:
            raise ValueError("give tax_rate_value or accounting_tax_rate_id, not both")
        if self.unit_price is not None and self.currency is None:
            raise ValueError("currency is required with unit_price")
        return self


class ProductResource(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    type: ProductKind
    unit_price: int | None = Field(description="Minor units of `currency`.")
    currency: str | None
    unit: str | None
    ledger_account_id: str | None
    tax_rate_value: int | None
    accounting_tax_rate_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ProductList(ResponseModel):
    data: list[ProductResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None


class SettledObject(RequestModel):
    """The document a payment settles, by the platform's id."""

    type: Literal["payable", "receivable"] = Field(description="`payable` (a bill) or `receivable` (an invoice).")
    id: uuid.UUID


class PaymentRecordIn(RequestModel):
    object: SettledObject = Field(description="The payable or receivable the payment settles (PUT it first).")
    amount: PositiveAmount
    currency: CurrencyCode = Field(description="The settled document's currency.")  # type: ignore[valid-type]
    paid_date: date
    payment_method: Annotated[Text, Field(max_length=64)] | None = Field(
        default=None, description="How it was paid (`bank_transfer`, `card`...): told to the accounting system."
    )
    reference: ShortText | None = Field(
        default=None, description="The payment's own reference (a bank transfer's), told to the accounting system."
    )
    status: PaymentRecordStatus = Field(
        default=PaymentRecordStatus.RECORDED,
        description="`deleted` says the payment was deleted on the platform: booksync deletes (or voids) what it "
        "pushed. Final: a deleted payment record stays deleted (record the payment again under a new id).",
    )


class SettledObjectResource(ResponseModel):
    type: Literal["payable", "receivable"]
    id: uuid.UUID


class PaymentRecordResource(ResponseModel):
    id: uuid.UUID
    object: SettledObjectResource
    amount: int = Field(description="Minor units of `currency`.")
    currency: str
    paid_date: date
    payment_method: str | None
    reference: str | None
    status: PaymentRecordStatus
    created_at: datetime
    updated_at: datetime


class PaymentRecordList(ResponseModel):
    data: list[PaymentRecordResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None
