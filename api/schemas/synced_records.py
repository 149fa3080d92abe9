"""Synced records: the outcome of syncing one of the platform's objects (reference: SyncRecordResource)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from api.schemas.common import RequestModel, ResponseModel, UtcDatetime
from models import ObjectType, SyncStatus


class SyncedRecordQuery(RequestModel):
    object_type: ObjectType
    object_id: uuid.UUID | None = None
    object_id__in: list[str] | None = Field(
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
    limit: Annotated[int, Field(ge=1, le=250)] = 100
    pagination_token: str | None = Field(
        default=None,
        description="From a previous page's next/prev_pagination_token. Parameters left out are taken from the "
        "token; parameters repeated must equal the token's (422 otherwise). `limit` may change.",
    )

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


class SyncedRecordResource(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    errors: dict[str, Any] | None
    last_pulled_at: datetime | None
    object_id: uuid.UUID
    object_type: ObjectType
    object_updated_at: datetime | None
    platform: str
    platform_object_id: str | None
    platform_updated_at: datetime | None
    provider: str = Field(description="The same as platform (booksync talks to accounting systems directly).")
    provider_object_id: str | None
    provider_updated_at: datetime | None
    sync_status: SyncStatus


class SyncedRecordList(ResponseModel):
    data: list[SyncedRecordResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None
