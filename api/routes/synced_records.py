"""``/accounting-synced-records``: list (keyset-paginated), get, and push one again."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic_core import to_json
from sqlalchemy import Row, Select, select

from api.auth import OrganizationId
from api.db import DbSession
from api.enqueue import EnqueueError, enqueue_push
from api.errors import ApiError, conflict, error_responses, invalid, not_found
from api.pagination import Position, fetch_page, start_page
from api.schemas.common import Platform
from api.schemas.synced_records import (
    NEVER_SEEN,
    ObjectMatchType,
    SyncedRecordList,
    SyncedRecordQuery,
    SyncedRecordResource,
)
from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus, SyncStatus, utcnow

SCOPE = "synced_records"
#: What the reference's records are of; booksync's other records (tax_rate) are not served.
OBJECT_TYPES = frozenset(item.value for item in ObjectMatchType)
Record = AccountingSyncedRecord

router = APIRouter(
    prefix="/accounting-synced-records",
    tags=["Accounting synced records"],
    responses=error_responses(401, 403, 404, 422),
)

_RANGES = {
    "gt": lambda column, value: column > value,
    "lt": lambda column, value: column < value,
    "gte": lambda column, value: column >= value,
    "lte": lambda column, value: column <= value,
}


def _platform(value: str) -> Platform | None:
    """Platforms outside the reference's enum (Tryton, the test stand-ins) leave the field out."""
    try:
        return Platform(value)
    except ValueError:
        return None


def _without_nulls(value: Any) -> Any:
    """An error's details as stored, less what has no value (the engine records ``"value": None`` too)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value if item is not None]
    return value


def record_resource(record: AccountingSyncedRecord) -> SyncedRecordResource:
    return SyncedRecordResource(
        id=record.id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        errors=_without_nulls(record.errors) if record.errors else None,
        last_pulled_at=record.last_pulled_at or NEVER_SEEN,
        object_id=record.object_id,
        object_type=ObjectMatchType(record.object_type),
        object_updated_at=record.object_updated_at,
        platform=_platform(record.platform),
        platform_object_id=record.platform_object_id,
        platform_updated_at=record.platform_updated_at,
        sync_status=SyncStatus(record.sync_status),
    )


_PLATFORMS = frozenset(item.value for item in Platform)
#: Each enum's values by themselves: a lookup checks a stored value as the enum would (KeyError for one
#: outside it, as the model's ValueError), at a fraction of the enum call's cost.
_OBJECT_TYPE_VALUES = {item.value: item.value for item in ObjectMatchType}
_SYNC_STATUS_VALUES = {item.value: item.value for item in SyncStatus}


def record_body(row: Row[Any]) -> dict[str, Any]:
    """``record_resource(row).model_dump(mode="json", exclude_none=True)``, from a row of the table's columns,
    without building the model: the list's page of 250 spent most of its time there. Same keys, same
    order, same values (``pydantic_core.to_json`` writes datetimes and UUIDs as the model does);
    ``tests/api/test_synced_records.py`` holds the two to each other."""
    body: dict[str, Any] = {"id": row.id, "created_at": row.created_at, "updated_at": row.updated_at}
    if row.errors:
        body["errors"] = _without_nulls(row.errors)
    body["last_pulled_at"] = row.last_pulled_at or NEVER_SEEN
    body["object_id"] = row.object_id
    body["object_type"] = _OBJECT_TYPE_VALUES[row.object_type]
    if row.object_updated_at is not None:
        body["object_updated_at"] = row.object_updated_at
    if row.platform in _PLATFORMS:
        body["platform"] = row.platform
    if row.platform_object_id is not None:
        body["platform_object_id"] = row.platform_object_id
    if row.platform_updated_at is not None:
        body["platform_updated_at"] = row.platform_updated_at
    body["sync_status"] = _SYNC_STATUS_VALUES[row.sync_status]
    return body


def list_statement(organization_id: uuid.UUID, query: SyncedRecordQuery) -> Select[tuple[AccountingSyncedRecord]]:
    """The filtered records (unordered, unpaginated); the index (organization_id, object_type, sort, id) serves it."""
    statement = select(Record).where(Record.organization_id == organization_id, Record.object_type == query.object_type)
    if query.object_id is not None:
        statement = statement.where(Record.object_id == query.object_id)
    if query.object_id__in:
        statement = statement.where(Record.object_id.in_([uuid.UUID(item) for item in query.object_id__in]))
    if query.sync_status is not None:
        statement = statement.where(Record.sync_status == query.sync_status)
    for column_name in ("created_at", "updated_at"):
        column = getattr(Record, column_name)
        for suffix, compare in _RANGES.items():
            value = getattr(query, f"{column_name}__{suffix}")
            if value is not None:
                statement = statement.where(compare(column, value))
    return statement


@router.get(
    "",
    response_model=SyncedRecordList,
    summary="List synced records",
    description="`object_type` is required on a first page. Pages are keyset-paginated on (sort, id): follow "
    "`next_pagination_token` / `prev_pagination_token`; with a token, every other parameter except `limit` is "
    "ignored and taken from the token. `sync_status` is a booksync extension.",
    response_model_exclude_none=True,
)
def list_synced_records(
    params: Annotated[SyncedRecordQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> Response:
    """The page as JSON, written straight from the rows (``record_body``); ``SyncedRecordList`` documents it."""
    if params.pagination_token is None and params.object_type is None:
        raise invalid("object_type", "field required (unless pagination_token is given)", location="query")
    query, request = start_page(params, scope=SCOPE, organization_id=organization_id)
    sort = Record.created_at if query.sort == "created_at" else Record.updated_at
    page = fetch_page(
        session,
        list_statement(organization_id, query).with_only_columns(*Record.__table__.columns),
        request,
        sort=sort,
        ident=Record.id,
        descending=query.order == "desc",
        position_of=lambda row: Position(getattr(row, query.sort), row.id),
        plain_rows=True,
    )
    body: dict[str, Any] = {"data": [record_body(row) for row in page.rows]}
    if page.next_token is not None:
        body["next_pagination_token"] = page.next_token
    if page.prev_token is not None:
        body["prev_pagination_token"] = page.prev_token
    return Response(to_json(body), media_type="application/json")


def _owned(session: DbSession, organization_id: uuid.UUID, record_id: uuid.UUID) -> AccountingSyncedRecord:
    record = session.get(Record, record_id)
    if record is None or record.organization_id != organization_id or record.object_type not in OBJECT_TYPES:
        raise not_found("synced record", record_id)
    return record


@router.get("/{synced_record_id}", response_model=SyncedRecordResource, summary="Get a synced record")
def get_synced_record(
    synced_record_id: uuid.UUID, organization_id: OrganizationId, session: DbSession
) -> SyncedRecordResource:
    return record_resource(_owned(session, organization_id, synced_record_id))


@router.post(
    "/{synced_record_id}/push",
    response_model=SyncedRecordResource,
    summary="Push the record's object again",
    description="Marks the record `pending` and queues `tasks.push_synced_record`; 409 unless its connection "
    "is connected.",
    responses=error_responses(409, 503),
)
def push_synced_record(
    synced_record_id: uuid.UUID, organization_id: OrganizationId, session: DbSession
) -> SyncedRecordResource:
    record = _owned(session, organization_id, synced_record_id)
    status = session.scalar(select(AccountingConnection.status).where(AccountingConnection.id == record.connection_id))
    if status != ConnectionStatus.CONNECTED:
        raise conflict(
            f"synced record {record.id} belongs to accounting connection {record.connection_id}, which is {status}; "
            "records are pushed only over a connected connection"
        )
    record.sync_status = SyncStatus.PENDING.value
    record.errors = None
    record.updated_at = utcnow()
    session.commit()
    try:
        enqueue_push(str(record.id))
    except EnqueueError as exc:
        raise ApiError(
            503, f"marked pending (the next sync pushes it), but the push could not be queued: {exc}"
        ) from None
    return record_resource(record)
