"""``/accounting-synced-records``: list (keyset-paginated), get, and push one again."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Select, select

from api.auth import OrganizationId
from api.db import DbSession
from api.enqueue import EnqueueError, enqueue_push
from api.errors import ApiError, conflict, error_responses, not_found
from api.pagination import Position, fetch_page, start_page
from api.schemas.synced_records import SyncedRecordList, SyncedRecordQuery, SyncedRecordResource
from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus, SyncStatus, utcnow

SCOPE = "synced_records"
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


def record_resource(record: AccountingSyncedRecord) -> SyncedRecordResource:
    return SyncedRecordResource(
        id=record.id,
        created_at=record.created_at,
        updated_at=record.updated_at,
        errors=record.errors,
        last_pulled_at=record.last_pulled_at,
        object_id=record.object_id,
        object_type=record.object_type,
        object_updated_at=record.object_updated_at,
        platform=record.platform,
        platform_object_id=record.platform_object_id,
        platform_updated_at=record.platform_updated_at,
        provider=record.platform,
        provider_object_id=record.platform_object_id,
        provider_updated_at=record.platform_updated_at,
        sync_status=record.sync_status,
    )


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
    description="`object_type` is required. Pages are keyset-paginated on (sort, id): follow "
    "`next_pagination_token` / `prev_pagination_token` (tokens are signed and expire).",
)
def list_synced_records(
    params: Annotated[SyncedRecordQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> SyncedRecordList:
    query, request = start_page(params, scope=SCOPE, organization_id=organization_id)
    sort = Record.created_at if query.sort == "created_at" else Record.updated_at
    page = fetch_page(
        session,
        list_statement(organization_id, query),
        request,
        sort=sort,
        ident=Record.id,
        descending=query.order == "desc",
        position_of=lambda record: Position(getattr(record, query.sort), record.id),
    )
    return SyncedRecordList(
        data=[record_resource(record) for record in page.rows],
        next_pagination_token=page.next_token,
        prev_pagination_token=page.prev_token,
    )


def _owned(session: DbSession, organization_id: uuid.UUID, record_id: uuid.UUID) -> AccountingSyncedRecord:
    record = session.get(Record, record_id)
    if record is None or record.organization_id != organization_id:
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
