"""``records`` (the synced records, newest first) and ``push`` (push one again)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.database import require
from cli.enqueue import TimeoutOption, WaitOption, follow, not_finished_message, require_broker, send
from cli.options import ObjectTypeChoice, OrganizationOption, RecordArgument, SyncStatusChoice
from cli.output import JsonOption, fail, format_fields, note, print_json, print_rows

if TYPE_CHECKING:
    from models import AccountingSyncedRecord

COLUMNS = (
    ("id", "ID"), ("object_type", "TYPE"), ("object_id", "OBJECT"), ("sync_status", "STATUS"),
    ("platform", "PLATFORM"), ("platform_object_id", "PLATFORM ID"), ("updated_at", "UPDATED"),
    ("error", "ERROR"),
)


def error_message(errors: Any) -> str | None:
    """The first human-readable message of a record's structured ``errors``."""
    if not errors:
        return None
    if isinstance(errors, dict):
        if isinstance(errors.get("message"), str):
            return errors["message"]
        for value in errors.values():
            found = error_message(value)
            if found:
                return found
        return None
    if isinstance(errors, list):
        for value in errors:
            found = error_message(value)
            if found:
                return found
        return None
    return str(errors)


def record_row(record: AccountingSyncedRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "organization_id": record.organization_id,
        "connection_id": record.connection_id,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "sync_status": record.sync_status,
        "platform": record.platform,
        "platform_object_id": record.platform_object_id,
        "errors": record.errors,
        "push_attempts": record.push_attempts,
        "last_pushed_at": record.last_pushed_at,
        "last_pulled_at": record.last_pulled_at,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def list_records(
    organization: OrganizationOption = None,
    connection: Annotated[
        uuid.UUID | None, typer.Option("--connection", metavar="CONNECTION_ID", help="Only this connection's.")
    ] = None,
    object_type: Annotated[
        ObjectTypeChoice | None, typer.Option("--object-type", help="Only this kind of object.")
    ] = None,
    status: Annotated[
        SyncStatusChoice | None, typer.Option("--status", help="Only records in this sync status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many (1-1000).")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Synced records (the outcome of syncing each object), most recently updated first."""
    from sqlalchemy import select

    from models import AccountingSyncedRecord, session_scope

    query = select(AccountingSyncedRecord).order_by(
        AccountingSyncedRecord.updated_at.desc(), AccountingSyncedRecord.id.desc()
    ).limit(limit)
    if organization is not None:
        query = query.where(AccountingSyncedRecord.organization_id == organization)
    if connection is not None:
        query = query.where(AccountingSyncedRecord.connection_id == connection)
    if object_type is not None:
        query = query.where(AccountingSyncedRecord.object_type == object_type.value)
    if status is not None:
        query = query.where(AccountingSyncedRecord.sync_status == status.value)
    with session_scope() as session:
        rows = [record_row(r) for r in session.scalars(query)]
    if not as_json:
        for row in rows:
            row["error"] = error_message(row["errors"])
    print_rows(rows, COLUMNS, as_json=as_json, empty="no synced records")


def push(
    record_id: RecordArgument,
    wait: WaitOption = False,
    timeout: TimeoutOption = 300.0,
    as_json: JsonOption = False,
) -> None:
    """Push one synced record again: mark it pending and enqueue tasks.push_synced_record.

    Exit status 1 when the record is not found or its connection is disconnected, or (with --wait)
    when the push ends in error.
    """
    from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus, SyncStatus, session_scope

    require_broker()
    with session_scope() as session:
        record = require(session, AccountingSyncedRecord, record_id, "synced record")
        connection = session.get(AccountingConnection, record.connection_id)
        if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
            fail(f"synced record {record_id} belongs to connection {record.connection_id}, which is disconnected")
        record.sync_status = SyncStatus.PENDING.value
    result = send("tasks.push_synced_record", [str(record_id)])
    if not wait:
        if as_json:
            print_json({"task": "tasks.push_synced_record", "task_id": result.id,
                        "synced_record_id": str(record_id), "sync_status": "pending"})
        else:
            typer.echo(f"enqueued tasks.push_synced_record[{result.id}] (synced record {record_id}, now pending)")
        return
    note(f"waiting for push task {result.id} (up to {timeout:g}s) ...")
    outcome = follow(result, timeout)
    value = outcome.value if isinstance(outcome.value, dict) else {}
    if as_json:
        print_json({"task_id": outcome.task_id, "state": outcome.state, "result": outcome.value})
    elif outcome.succeeded:
        typer.echo(format_fields({
            "synced record": value.get("synced_record_id"),
            "sync status": value.get("sync_status"),
            "error": error_message(value.get("errors")),
            "task": outcome.task_id,
        }))
    if not outcome.finished:
        fail(not_finished_message(outcome, timeout))
    if not outcome.succeeded:
        fail(f"push task {outcome.task_id} ended {outcome.state}: {outcome.value}")
    if value.get("sync_status") != SyncStatus.DONE.value:
        raise typer.Exit(1)
