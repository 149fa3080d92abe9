"""Accounting connections (mirrors the reference's AccountingConnectionResponse; never credentials)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from api.schemas.common import JsonObject, RequestModel, ResponseModel, Text
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


class ErrorItem(ResponseModel):
    message: str


class BusinessInfo(ResponseModel):
    name: str | None = None
    legal_name: str | None = None
    base_currency: str | None = None
    email: str | None = None
    type: str | None = None


class ConnectionResource(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    platform: str
    status: ConnectionStatus
    errors: list[ErrorItem]
    last_pull: datetime | None
    connection_url: str | None = Field(description="Where to consent, for OAuth platforms while pending_auth.")
    business_info: BusinessInfo | None


class ConnectionList(ResponseModel):
    data: list[ConnectionResource]
