"""Ledger accounts, as of the last pull (reference: LedgerAccountResponse)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel


class LedgerAccountQuery(RequestModel):
    sort: Literal["name"] = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: Annotated[int, Field(ge=1, le=250)] = 100
    pagination_token: str | None = None


class LedgerAccountResource(ResponseModel):
    id: uuid.UUID
    name: str
    nominal_code: str | None
    type: str
    subtype: str | None
    status: str
    currency: str | None
    description: str | None
    is_bank_account: bool
    current_balance: int | None = Field(description="Minor units of the account's currency.")


class LedgerAccountList(ResponseModel):
    data: list[LedgerAccountResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None
