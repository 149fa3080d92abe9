"""Accounting tax rates: external ones (pulled, read-only) and the organization's internal ones."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import (
    DEFAULT_PAGE_LIMIT,
    PAGINATION_TOKEN,
    PageLimit,
    RequestModel,
    TaxRateValue,
    Text,
    WireModel,
)

Name = Annotated[Text, Field(min_length=1, max_length=255)]
Code = Annotated[Text, Field(max_length=64)]


class TaxComponent(RequestModel):
    name: Name
    rate: TaxRateValue
    is_compound: bool = False


EFFECTIVE = (
    "Hundredths of a percent. With components, it must be what they make: the simple ones added, each compound "
    "one on the price plus the taxes before it (rounded either way to a hundredth of a percent); left out, it is "
    "computed from them."
)
COMPONENTS = "Its parts; `total_tax_rate` is their sum (not compounded). None: the rate is `effective_tax_rate` alone."


class TaxRateCreate(RequestModel):
    name: Name
    code: Code | None = None
    effective_tax_rate: TaxRateValue | None = Field(
        default=None, description=EFFECTIVE + " Required when there are no components."
    )
    components: Annotated[list[TaxComponent], Field(max_length=20)] = Field(
        default_factory=list, description=COMPONENTS
    )


class TaxRateUpdate(RequestModel):
    name: Name | None = None
    code: Code | None = None
    effective_tax_rate: TaxRateValue | None = Field(
        default=None, description=EFFECTIVE + " Checked against the components the rate has after the change."
    )
    components: Annotated[list[TaxComponent], Field(max_length=20)] | None = Field(
        default=None, description=COMPONENTS + " Changing them without `effective_tax_rate` recomputes it."
    )


class TaxRateQuery(RequestModel):
    is_external: bool | None = None
    sort: Literal["name"] = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: PageLimit = DEFAULT_PAGE_LIMIT
    pagination_token: str | None = Field(default=None, description=PAGINATION_TOKEN)


class TaxComponentResource(WireModel):
    name: str
    rate: int = Field(description="Hundredths of a percent: 12.5% is 1250.")
    is_compound: bool


class TaxRateResource(WireModel):
    """The reference's ``AccountingTaxRateResponse``; fields without a value are left out, never ``null``."""

    id: uuid.UUID
    name: str
    code: str | None = Field(default=None, description="The rate's code in the accounting system, if it has one.")
    effective_tax_rate: int = Field(description="Hundredths of a percent: 12.5% is 1250.")
    total_tax_rate: int = Field(description="Sum of the components' rates (not compounded), hundredths of a percent.")
    components: list[TaxComponentResource]
    status: str
    is_external: bool = Field(description="Pulled from the accounting system (read-only here) or internal.")
    created_at: datetime
    updated_at: datetime


class TaxRateList(WireModel):
    data: list[TaxRateResource]
    next_pagination_token: str | None = Field(default=None, description="Left out on the last page.")
    prev_pagination_token: str | None = Field(default=None, description="Left out on the first page.")
