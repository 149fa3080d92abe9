"""Xero's answers as typed models: what the adapter reads of them, checked on the way in.

Field names and types follow Xero's Accounting API definition (``xero_accounting.yaml`` 16.1.0) and the
Identity definition (``xero-identity.yaml``); only the fields booksync reads are declared, the rest are
ignored. Amounts are ``Decimal`` (the client parses JSON numbers as decimals, never floats). Dates come as
Xero's ``/Date(1573755038314+0000)/`` or as ISO strings; both are read.

A wrong-shaped answer (a list where an object belongs, a null where a value must be, a missing id) is
one ``ProviderError`` saying which field of which answer was wrong: ``parse``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from providers.errors import ProviderError

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")

M = TypeVar("M", bound=BaseModel)


def _timestamp(value: Any) -> Any:
    """``/Date(ms+zzzz)/`` → aware UTC datetime (the ms are UTC; the offset is informational)."""
    if isinstance(value, str):
        match = _MS_DATE.match(value)
        if match:
            return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, dt.UTC)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return value


def _date(value: Any) -> Any:
    if isinstance(value, str):
        moment = _timestamp(value)
        return moment.date() if isinstance(moment, dt.datetime) else moment
    return value


Timestamp = Annotated[dt.datetime, BeforeValidator(_timestamp)]
Day = Annotated[dt.date, BeforeValidator(_date)]


class XeroModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ValidationMessage(XeroModel):
    Message: str = ""


class Pagination(XeroModel):
    page: int = 1
    pageSize: int = 100
    pageCount: int = 0
    itemCount: int = 0


class Organisation(XeroModel):
    OrganisationID: str
    Name: str
    LegalName: str | None = None
    BaseCurrency: str | None = None
    CountryCode: str | None = None
    OrganisationType: str | None = None
    ShortCode: str | None = None


class Organisations(XeroModel):
    Organisations: list[Organisation] = Field(min_length=1)


class ContactRef(XeroModel):
    ContactID: str | None = None
    Name: str | None = None


class Contact(XeroModel):
    ContactID: str | None = None
    Name: str | None = None
    ContactNumber: str | None = None
    ContactStatus: str | None = None
    EmailAddress: str | None = None
    TaxNumber: str | None = None
    UpdatedDateUTC: Timestamp | None = None
    HasValidationErrors: bool | None = None
    StatusAttributeString: str | None = None
    ValidationErrors: list[ValidationMessage] = Field(default_factory=list)


class Contacts(XeroModel):
    Contacts: list[Contact]
    pagination: Pagination | None = None


class LineItem(XeroModel):
    LineItemID: str | None = None
    Description: str | None = None
    Quantity: Decimal | None = None
    UnitAmount: Decimal | None = None
    LineAmount: Decimal | None = None
    TaxAmount: Decimal | None = None
    TaxType: str | None = None
    AccountCode: str | None = None
    AccountID: str | None = None
    ItemCode: str | None = None


class PaymentSummary(XeroModel):
    """A payment as an invoice lists it (``Invoice.Payments``): enough to find booksync's by its ``Reference``."""

    PaymentID: str
    Date: Day | None = None
    Amount: Decimal | None = None
    Reference: str | None = None


class Invoice(XeroModel):
    InvoiceID: str | None = None
    Type: str | None = None
    Status: str | None = None
    InvoiceNumber: str | None = None
    Reference: str | None = None
    Url: str | None = None
    Contact: ContactRef | None = None
    Date: Day | None = None
    DueDate: Day | None = None
    CurrencyCode: str | None = None
    CurrencyRate: Decimal | None = None
    LineAmountTypes: str | None = None
    LineItems: list[LineItem] = Field(default_factory=list)
    SubTotal: Decimal | None = None
    TotalTax: Decimal | None = None
    Total: Decimal | None = None
    AmountDue: Decimal | None = None
    AmountPaid: Decimal | None = None
    AmountCredited: Decimal | None = None
    Payments: list[PaymentSummary] = Field(default_factory=list)
    UpdatedDateUTC: Timestamp | None = None
    HasErrors: bool | None = None
    StatusAttributeString: str | None = None
    ValidationErrors: list[ValidationMessage] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.HasErrors or self.ValidationErrors or self.StatusAttributeString == "ERROR")


class Invoices(XeroModel):
    Invoices: list[Invoice]
    pagination: Pagination | None = None


class AccountRef(XeroModel):
    AccountID: str | None = None
    Code: str | None = None


class InvoiceRef(XeroModel):
    InvoiceID: str | None = None
    InvoiceNumber: str | None = None
    Type: str | None = None
    CurrencyCode: str | None = None


class Payment(XeroModel):
    PaymentID: str | None = None
    Date: Day | None = None
    Amount: Decimal | None = None
    Reference: str | None = None
    Status: str | None = None
    PaymentType: str | None = None
    IsReconciled: bool | None = None
    Account: AccountRef | None = None
    Invoice: InvoiceRef | None = None
    UpdatedDateUTC: Timestamp | None = None
    HasValidationErrors: bool | None = None
    StatusAttributeString: str | None = None
    ValidationErrors: list[ValidationMessage] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.HasValidationErrors or self.ValidationErrors or self.StatusAttributeString == "ERROR")


class Payments(XeroModel):
    Payments: list[Payment]
    pagination: Pagination | None = None


class ItemDetails(XeroModel):
    """An item's ``SalesDetails`` or ``PurchaseDetails`` (Xero's ``Purchase`` schema)."""

    UnitPrice: Decimal | None = None
    AccountCode: str | None = None
    TaxType: str | None = None


class Item(XeroModel):
    ItemID: str | None = None
    Code: str | None = None
    Name: str | None = None
    Description: str | None = None
    IsSold: bool | None = None
    IsPurchased: bool | None = None
    SalesDetails: ItemDetails | None = None
    PurchaseDetails: ItemDetails | None = None
    UpdatedDateUTC: Timestamp | None = None
    StatusAttributeString: str | None = None
    ValidationErrors: list[ValidationMessage] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.ValidationErrors or self.StatusAttributeString == "ERROR")


class Items(XeroModel):
    Items: list[Item]


class TaxComponent(XeroModel):
    Name: str | None = None
    Rate: Decimal = Decimal(0)
    IsCompound: bool = False


class TaxRate(XeroModel):
    TaxType: str
    Name: str
    Status: str | None = None
    EffectiveRate: Decimal = Decimal(0)
    ReportTaxType: str | None = None
    TaxComponents: list[TaxComponent] = Field(default_factory=list)
    CanApplyToExpenses: bool | None = None
    CanApplyToRevenue: bool | None = None


class TaxRates(XeroModel):
    TaxRates: list[TaxRate]


class Account(XeroModel):
    AccountID: str
    Name: str
    Code: str | None = None
    Type: str | None = None
    Class: str | None = None
    Status: str | None = None
    Description: str | None = None
    CurrencyCode: str | None = None
    TaxType: str | None = None
    BankAccountType: str | None = None
    EnablePaymentsToAccount: bool | None = None


class Accounts(XeroModel):
    Accounts: list[Account]


class ErrorElement(XeroModel):
    ValidationErrors: list[ValidationMessage] = Field(default_factory=list)


class ErrorBody(XeroModel):
    """Xero's 4xx body (``ErrorNumber``, ``Type``, ``Message``, ``Elements``) or its gateway's problem details."""

    ErrorNumber: int | None = None
    Type: str | None = None
    Message: str | None = None
    Title: str | None = None
    Detail: str | None = None
    Elements: list[ErrorElement] = Field(default_factory=list)

    def messages(self) -> list[str]:
        found = [m.Message for element in self.Elements for m in element.ValidationErrors if m.Message]
        return found or [text for text in (self.Message, self.Detail, self.Title) if text]


class TenantConnection(XeroModel):
    """One entry of the Identity API's ``GET /connections``."""

    id: str
    tenantId: str
    authEventId: str | None = None
    tenantType: str | None = None
    tenantName: str | None = None


def parse(model: type[M], data: Any, *, what: str) -> M:
    """``data`` as ``model``, or one ProviderError naming what was wrong (never an AttributeError later)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'the answer'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ProviderError(
            f"Xero's answer to {what} is not what its API defines ({problems})", details={"answer": what}
        ) from None


def parse_list(model: type[M], data: Any, *, what: str) -> list[M]:
    if not isinstance(data, list):
        raise ProviderError(f"Xero's answer to {what} is not a list", details={"answer": what})
    return [parse(model, item, what=what) for item in data]
