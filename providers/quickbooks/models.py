"""QuickBooks Online answers as typed models: what the adapter reads of them, checked on the way in.

Element names and types follow Intuit's XML Schema (``sandboxes/quickbooks/schema``, the v3 API's own
definition; the JSON API uses the same names): ``ReferenceType`` is ``{"value": ..., "name": ...}``, amounts
are ``xs:decimal`` (read as ``Decimal``: the client parses JSON numbers with ``parse_float=Decimal``), dates
``xs:date``, ``MetaData`` times ``xs:dateTime`` with an offset (Pacific time at Intuit). Only the fields booksync
reads are declared; the rest are ignored.

A wrong-shaped answer (a list where an object belongs, a null where a value must be, a missing ``Id``) is one
``ProviderError`` naming the answer and the field: ``parse``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from providers.errors import ProviderError

M = TypeVar("M", bound=BaseModel)


class QBModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Ref(QBModel):
    value: str
    name: str | None = None


class Meta(QBModel):
    CreateTime: str | None = None
    LastUpdatedTime: str

    @field_validator("CreateTime", "LastUpdatedTime")
    @classmethod
    def _a_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)  # a ValueError here is pydantic's "is wrong"
        return value

    @property
    def updated(self) -> dt.datetime:
        return parse_time(self.LastUpdatedTime)

    @property
    def created(self) -> dt.datetime | None:
        return parse_time(self.CreateTime) if self.CreateTime else None


def parse_time(text: str) -> dt.datetime:
    """A QuickBooks ``xs:dateTime`` (``2015-07-24T10:33:39-07:00``) as an aware datetime; one without an offset is
    taken as UTC."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class EmailAddress(QBModel):
    Address: str | None = None


# -- lists -------------------------------------------------------------------------------------------


class Party(QBModel):
    """A ``Vendor`` or a ``Customer``."""

    Id: str
    SyncToken: str
    DisplayName: str
    CompanyName: str | None = None
    Active: bool = True
    Notes: str | None = None
    PrimaryEmailAddr: EmailAddress | None = None
    CurrencyRef: Ref | None = None
    MetaData: Meta | None = None


class Account(QBModel):
    Id: str
    Name: str
    AccountType: str | None = None
    AccountSubType: str | None = None
    Classification: str | None = None
    AcctNum: str | None = None
    Active: bool = True
    Description: str | None = None
    CurrencyRef: Ref | None = None


class Item(QBModel):
    Id: str
    Name: str
    SyncToken: str | None = None
    Type: str | None = None
    Active: bool = True
    Sku: str | None = None
    Description: str | None = None
    UnitPrice: Decimal | None = None
    Taxable: bool | None = None
    IncomeAccountRef: Ref | None = None
    SalesTaxCodeRef: Ref | None = None
    MetaData: Meta | None = None


class RateDetail(QBModel):
    TaxRateRef: Ref
    TaxTypeApplicable: str | None = None
    TaxOrder: int | None = None


class TaxRateList(QBModel):
    TaxRateDetail: list[RateDetail] = Field(default_factory=list)


class TaxCode(QBModel):
    Id: str
    Name: str
    Description: str | None = None
    Active: bool = True
    Taxable: bool | None = None
    TaxGroup: bool | None = None
    SalesTaxRateList: TaxRateList | None = None
    PurchaseTaxRateList: TaxRateList | None = None


class TaxRate(QBModel):
    Id: str
    Name: str
    RateValue: Decimal | None = None
    Active: bool = True


class CompanyAddress(QBModel):
    Country: str | None = None


class CompanyInfo(QBModel):
    CompanyName: str
    LegalName: str | None = None
    Country: str | None = None
    Email: EmailAddress | None = None
    CompanyAddr: CompanyAddress | None = None


class CurrencyPreferences(QBModel):
    MultiCurrencyEnabled: bool | None = None
    HomeCurrency: Ref | None = None


class SalesFormsPreferences(QBModel):
    DefaultItem: Ref | None = None


class Preferences(QBModel):
    CurrencyPrefs: CurrencyPreferences | None = None
    SalesFormsPrefs: SalesFormsPreferences | None = None


# -- documents ---------------------------------------------------------------------------------------


class SalesLine(QBModel):
    ItemRef: Ref | None = None
    Qty: Decimal | None = None
    UnitPrice: Decimal | None = None
    TaxCodeRef: Ref | None = None


class ExpenseLine(QBModel):
    AccountRef: Ref | None = None
    TaxCodeRef: Ref | None = None


class ItemExpenseLine(QBModel):
    ItemRef: Ref | None = None
    Qty: Decimal | None = None
    UnitPrice: Decimal | None = None
    TaxCodeRef: Ref | None = None


class TxnLine(QBModel):
    Id: str | None = None
    Description: str | None = None
    Amount: Decimal | None = None
    DetailType: str
    SalesItemLineDetail: SalesLine | None = None
    AccountBasedExpenseLineDetail: ExpenseLine | None = None
    ItemBasedExpenseLineDetail: ItemExpenseLine | None = None


class TaxDetail(QBModel):
    TxnTaxCodeRef: Ref | None = None
    TotalTax: Decimal | None = None


class Linked(QBModel):
    TxnId: str
    TxnType: str | None = None


class Transaction(QBModel):
    """A ``Bill`` or an ``Invoice``: the fields both have, and each one's party."""

    Id: str
    SyncToken: str
    MetaData: Meta
    DocNumber: str | None = None
    TxnDate: dt.date | None = None
    DueDate: dt.date | None = None
    PrivateNote: str | None = None
    CurrencyRef: Ref | None = None
    ExchangeRate: Decimal | None = None
    VendorRef: Ref | None = None
    CustomerRef: Ref | None = None
    Line: list[TxnLine] = Field(default_factory=list)
    TxnTaxDetail: TaxDetail | None = None
    TotalAmt: Decimal
    Balance: Decimal | None = None
    GlobalTaxCalculation: str | None = None
    LinkedTxn: list[Linked] = Field(default_factory=list)

    @property
    def party(self) -> Ref | None:
        return self.VendorRef or self.CustomerRef


class PaymentLine(QBModel):
    Amount: Decimal | None = None
    LinkedTxn: list[Linked] = Field(default_factory=list)


class Payment(QBModel):
    """A ``Payment`` (to invoices) or a ``BillPayment`` (to bills): what booksync reads of either."""

    Id: str
    SyncToken: str
    MetaData: Meta
    TxnDate: dt.date | None = None
    TotalAmt: Decimal
    PrivateNote: str | None = None
    CurrencyRef: Ref | None = None
    CustomerRef: Ref | None = None
    VendorRef: Ref | None = None
    Line: list[PaymentLine] = Field(default_factory=list)

    def applied_to(self, txn_id: str) -> Decimal:
        return sum((line.Amount or Decimal(0) for line in self.Line
                    if any(link.TxnId == txn_id for link in line.LinkedTxn)), Decimal(0))


class Deleted(QBModel):
    """What CDC reports of a deleted object: ``{"domain": "QBO", "status": "Deleted", "Id": ..., "MetaData": ...}``."""

    Id: str
    status: str | None = None
    MetaData: Meta | None = None


# -- envelopes ---------------------------------------------------------------------------------------


class FaultError(QBModel):
    Message: str | None = None
    Detail: str | None = None
    code: str | None = None
    element: str | None = None


class Fault(QBModel):
    Error: list[FaultError] = Field(default_factory=list)
    type: str | None = None


def parse(model: type[M], data: Any, *, what: str) -> M:
    """``data`` as ``model``, or one ProviderError naming the answer and the first field that is wrong."""
    if not isinstance(data, dict):
        raise ProviderError(f"QuickBooks Online's answer to {what} is not an object (it is {_kind(data)})",
                            details={"answer": what})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProviderError(_message(exc, what, model.__name__), details={"answer": what}) from None


def parse_each(model: type[M], items: Any, *, what: str) -> list[M]:
    """A list of ``model`` (an answer's ``QueryResponse.Invoice``, say); anything but a list is an error."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ProviderError(f"QuickBooks Online's answer to {what} has {_kind(items)} where a list belongs",
                            details={"answer": what})
    return [parse(model, item, what=f"{what}[{index}]") for index, item in enumerate(items)]


def member(data: Any, name: str, *, what: str) -> Any:
    """``data[name]`` of an answer that must be an object."""
    if not isinstance(data, dict):
        raise ProviderError(f"QuickBooks Online's answer to {what} is not an object (it is {_kind(data)})",
                            details={"answer": what})
    return data.get(name)


def _message(exc: ValidationError, what: str, model: str) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error.get("loc", ())) or model
    problem = "is missing" if error.get("type") == "missing" else f"is wrong ({error.get('msg', 'invalid')})"
    return f"QuickBooks Online's answer to {what} is not what its API defines: {model}.{location} {problem}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "a list", dict: "an object", str: "a string", bool: "a boolean"}.get(type(value), "a number")
