"""Synced records: the outcome of syncing one of the platform's objects (reference: SyncRecordResource)."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator

from api.schemas.common import (
    DEFAULT_PAGE_LIMIT,
    PAGINATION_TOKEN,
    PageLimit,
    Platform,
    RequestModel,
    ServiceProvider,
    UtcDatetime,
    WireModel,
)
from models import SyncStatus

NEVER_SEEN = datetime(1970, 1, 1, tzinfo=UTC)


class ObjectMatchType(enum.StrEnum):
    """The reference's ``ObjectMatchTypes``: what a synced record is of."""

    PRODUCT = "product"
    CUSTOMER = "customer"
    VENDOR = "vendor"
    RECEIVABLE = "receivable"
    BILL = "bill"
    PAYMENT_RECORD = "payment_record"


class SyncedRecordQuery(RequestModel):
    object_type: ObjectMatchType | None = Field(
        default=None, description="Required, unless `pagination_token` is given (then it comes from the token)."
    )
    object_id: uuid.UUID | None = None
    object_id__in: list[Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]] | None = Field(
        default=None, description="Object ids, repeated (`?object_id__in=a&object_id__in=b`) or comma-separated."
    )
    sync_status: SyncStatus | None = None
    created_at__gt: UtcDatetime | None = None
    created_at__lt: UtcDatetime | None = None
    created_at__gte: UtcDatetime | None = None
    created_at__lte: UtcDatetime | None = None
    updated_at__gt: UtcDatetime | None = None
    updated_at__lt: UtcDatetime | None = None
    updated_at__gte: UtcDatetime | None = None
    updated_at__lte: UtcDatetime | None = None
    sort: Literal["created_at", "updated_at"] = "created_at"
    order: Literal["asc", "desc"] = "asc"
    limit: PageLimit = DEFAULT_PAGE_LIMIT
    pagination_token: str | None = Field(default=None, description=PAGINATION_TOKEN)

    @field_validator("object_id__in")
    @classmethod
    def _ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        ids: set[uuid.UUID] = set()
        for item in value:
            for part in item.split(","):
                try:
                    ids.add(uuid.UUID(part.strip()))
                except ValueError:
                    raise ValueError(f"{part.strip()!r} is not a UUID") from None
        if not ids:
            raise ValueError("give at least one id")
        if len(ids) > 250:
            raise ValueError("at most 250 ids")
        return sorted(str(item) for item in ids)


class SyncedRecordResource(WireModel):
    """The reference's ``SyncRecordResource``. Fields without a value are left out, never ``null``."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    errors: dict[str, Any] | None = Field(
        default=None, description="Why the last push failed (`message`, and what to fix); left out when it did not."
    )
    last_pulled_at: datetime = Field(
        description="When booksync last saw the object in the accounting system: a pull or full reconcile that "
        "found it, or a successful push. `1970-01-01T00:00:00Z` when it has never been seen there (not pushed "
        "yet, or its push failed)."
    )
    object_id: uuid.UUID
    object_type: ObjectMatchType
    object_updated_at: datetime | None = None
    platform: Platform | None = Field(
        default=None, description="The accounting system, when it is one of the reference's platforms; left out "
        "for Tryton (the reference's enum is closed: its clients refuse other values). The connection's "
        "`platform` names every platform.",
    )
    platform_object_id: str | None = Field(default=None, description="The object's id in the accounting system.")
    platform_updated_at: datetime | None = None
    provider: ServiceProvider | None = Field(
        default=None,
        description="Never sent: the reference's aggregator (codat, railz). booksync talks to the accounting "
        "system itself, so there is no provider, nor provider_object_id / provider_updated_at.",
    )
    provider_object_id: str | None = Field(default=None, description="Never sent (no aggregator; see `provider`).")
    provider_updated_at: datetime | None = Field(default=None, description="Never sent (see `provider`).")
    sync_status: SyncStatus


class SyncedRecordList(WireModel):
    data: list[SyncedRecordResource]
    next_pagination_token: str | None = Field(default=None, description="Left out on the last page.")
    prev_pagination_token: str | None = Field(default=None, description="Left out on the first page.")
