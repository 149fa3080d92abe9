"""Accounting tax rates: external ones (pulled, read-only) and the organization's internal ones."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel, TaxRateValue, Text

Name = Annotated[Text, Field(min_length=1, max_length=255)]
Code = Annotated[Text, Field(max_length=64)]


class TaxComponent(RequestModel):
    name: Name
    rate: TaxRateValue
    is_compound: bool = False


class TaxRateCreate(RequestModel):
    name: Name
    code: Code | None = None
    effective_tax_rate: TaxRateValue
    components: Annotated[list[TaxComponent], Field(max_length=20)] = Field(default_factory=list)


class TaxRateUpdate(RequestModel):
    name: Name | None = None
    code: Code | None = None
    effective_tax_rate: TaxRateValue | None = None
    components: Annotated[list[TaxComponent], Field(max_length=20)] | None = None


class TaxRateQuery(RequestModel):
    is_external: bool | None = None
    sort: Literal["name"] = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: Annotated[int, Field(ge=1, le=250)] = 100
    pagination_token: str | None = None


class TaxComponentResource(ResponseModel):
    name: str
    rate: int = Field(description="Hundredths of a percent: 12.5% is 1250.")
    is_compound: bool


class TaxRateResource(ResponseModel):
    id: uuid.UUID
    name: str
    code: str | None
    effective_tax_rate: int = Field(description="Hundredths of a percent: 12.5% is 1250.")
    total_tax_rate: int = Field(description="Sum of the components' rates (not compounded), hundredths of a percent.")
    components: list[TaxComponentResource]
    status: str
    is_external: bool = Field(description="Pulled from the accounting system (read-only here) or internal.")
    created_at: datetime
    updated_at: datetime


class TaxRateList(ResponseModel):
    data: list[TaxRateResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None
