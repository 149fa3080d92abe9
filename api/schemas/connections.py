"""Accounting connections (mirrors the reference's AccountingConnectionResponse; never credentials)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from api.schemas.common import JsonObject, RequestModel, Text, WireModel
from models import ConnectionStatus


class ConnectionCreate(RequestModel):
    platform: Annotated[Text, Field(min_length=1, max_length=64, description="e.g. tryton")]
    settings: JsonObject = Field(default_factory=dict, description="What is not secret (tryton: url, database).")
    credentials: JsonObject = Field(
        default_factory=dict, description="Secrets (tryton: username, password); stored encrypted, never returned."
    )
    backfill: bool = Field(
        default=False, description="Also push documents that became eligible before the connection was made."
    )


class ConnectionUpdate(RequestModel):
    credentials: JsonObject = Field(
        description="The new secrets (tryton: username, password); checked by a test call, stored encrypted."
    )
    settings: JsonObject = Field(
        default_factory=dict, description="Settings to change at the same time (merged over the current ones)."
    )


class ErrorItem(WireModel):
    message: str


class BusinessInfo(WireModel):
    """What the accounting system says of the books' owner; fields it does not give are left out."""

    name: str | None = None
    legal_name: str | None = None
    base_currency: str | None = None
    email: str | None = None
    type: str | None = None


class RateLimitBudget(WireModel):
    """The connection's call budget at its accounting system, as booksync's shared limiter last saw it."""

    day_remaining: int | None = Field(default=None, description="Calls left today, as the provider last reported.")
    minute_remaining: int | None = Field(default=None, description="Calls left this minute, as last reported.")
    as_of: datetime | None = Field(default=None, description="When the provider reported them.")
    in_flight: int | None = Field(default=None, description="Calls booksync's workers have open right now.")
    blocked_until: datetime | None = Field(
        default=None, description="After a 429: no call goes out before this (the provider's Retry-After)."
    )


class ConnectionResource(WireModel):
    """The reference's ``AccountingConnectionResponse``; fields without a value are left out, never ``null``."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    platform: str
    status: ConnectionStatus
    errors: list[ErrorItem]
    last_pull: datetime | None = Field(
        default=None, description="When the last sync's pull finished; left out until the first one has."
    )
    connection_url: str = Field(
        description="Where the user consents, for an OAuth platform while `pending_auth`. The reference requires "
        "the field, so it is always there: an empty string when there is nothing to visit (a connection made "
        "with credentials, or one past its consent)."
    )
    business_info: BusinessInfo | None = Field(
        default=None, description="Left out until a test call or sync has read it from the accounting system."
    )
    rate_limit: RateLimitBudget | None = Field(
        default=None, description="For platforms with rate limits (Xero, QuickBooks Online): the call budget "
        "(booksync extension)."
    )


class ConnectionList(WireModel):
    data: list[ConnectionResource]


_PAYMENT_ACCOUNT = (
    "The ledger account payments are pushed to (the bank or cash account the money left or reached), by the id "
    "`GET /ledger-accounts` gives; left out when not set (the accounting system's own default applies)."
)
_PRODUCT_ACCOUNT = (
    "The ledger account products without their own are sold with, by the id `GET /ledger-accounts` gives; left "
    "out when not set (the accounting system's default revenue account applies)."
)


class ConnectionDefaults(WireModel):
    """What the organization chose for the connection's pushes (booksync extension); a change applies to the
    next push."""

    payment_ledger_account_id: uuid.UUID | None = Field(default=None, description=_PAYMENT_ACCOUNT)
    product_ledger_account_id: uuid.UUID | None = Field(default=None, description=_PRODUCT_ACCOUNT)


class ConnectionDefaultsUpdate(RequestModel):
    """Only the fields sent change: an id sets the default, `null` clears it."""

    payment_ledger_account_id: uuid.UUID | None = Field(default=None, description=_PAYMENT_ACCOUNT)
    product_ledger_account_id: uuid.UUID | None = Field(default=None, description=_PRODUCT_ACCOUNT)
