"""Ledger accounts, as of the last pull (reference: LedgerAccountResponse)."""

from __future__ import annotations

import enum
import uuid
from typing import Literal

from pydantic import Field

from api.currencies import REFERENCE_CURRENCY_CODES
from api.schemas.common import DEFAULT_PAGE_LIMIT, PAGINATION_TOKEN, PageLimit, RequestModel, WireModel

#: The reference's ``CurrencyEnum`` (ISO 4217 codes; a few circulating ones are missing from it).
ReferenceCurrency = enum.StrEnum("ReferenceCurrency", {code: code for code in REFERENCE_CURRENCY_CODES})  # type: ignore[misc]


class LedgerAccountStatus(enum.StrEnum):
    """The reference's values (its description lists them): Active, Archived, Pending, Unknown."""

    ACTIVE = "Active"
    ARCHIVED = "Archived"
    PENDING = "Pending"
    UNKNOWN = "Unknown"


class LedgerAccountType(enum.StrEnum):
    """The reference's values (its description lists them): Asset, Equity, Expense, Income, Liability, Unknown."""

    ASSET = "Asset"
    EQUITY = "Equity"
    EXPENSE = "Expense"
    INCOME = "Income"
    LIABILITY = "Liability"
    UNKNOWN = "Unknown"


class LedgerAccountQuery(RequestModel):
    sort: Literal["name"] = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: PageLimit = DEFAULT_PAGE_LIMIT
    pagination_token: str | None = Field(default=None, description=PAGINATION_TOKEN)


class LedgerAccountResource(WireModel):
    """Fields the accounting system has no value for are left out, never ``null``."""

    id: uuid.UUID = Field(description="booksync's id: what a line's `ledger_account_id` refers to.")
    name: str
    nominal_code: str | None = Field(default=None, description="The account's code in the accounting system.")
    type: LedgerAccountType
    subtype: str | None = None
    status: LedgerAccountStatus
    currency: ReferenceCurrency | None = Field(  # type: ignore[valid-type]
        default=None, description="Left out for an account in no one currency (or one the reference does not list)."
    )
    description: str | None = None
    is_bank_account: bool
    current_balance: int | None = Field(default=None, description="Minor units of the account's currency.")


class LedgerAccountList(WireModel):
    data: list[LedgerAccountResource]
    next_pagination_token: str | None = Field(default=None, description="Left out on the last page.")
    prev_pagination_token: str | None = Field(default=None, description="Left out on the first page.")
