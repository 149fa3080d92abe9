"""``connections list|show``, ``sync`` and ``disconnect``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.database import require
from cli.enqueue import Outcome, TimeoutOption, WaitOption, follow, not_finished_message, require_broker, send
from cli.options import ConnectionArgument, ConnectionStatusChoice, OrganizationOption
from cli.output import (
    EXIT_FAILED, EXIT_USAGE, JsonOption, fail, format_fields, format_table, note, print_json, print_object, print_rows,
)

if TYPE_CHECKING:
    from models import AccountingConnection

app = typer.Typer(help="The organizations' links to their accounting systems.", no_args_is_help=True)

LIST_COLUMNS = (
    ("id", "ID"), ("organization_id", "ORGANIZATION"), ("platform", "PLATFORM"), ("status", "STATUS"),
    ("last_pull", "LAST PULL"), ("next_sync_at", "NEXT SYNC"), ("last_error", "LAST ERROR"),
)
FAILED_SYNC_STATUSES = frozenset({"failed", "busy", "interrupted"})


def _last_error(connection: AccountingConnection) -> str | None:
    if not connection.errors:
        return None
    last = connection.errors[-1]
    message = str(last.get("message", last) if isinstance(last, dict) else last)
    return message if len(message) <= 60 else message[:57] + "..."


def connection_row(connection: AccountingConnection) -> dict[str, Any]:
    return {
        "id": connection.id,
        "organization_id": connection.organization_id,
        "platform": connection.platform,
        "status": connection.status,
        "last_pull": connection.last_pull,
        "next_sync_at": connection.next_sync_at,
        "connected_at": connection.connected_at,
        "errors": connection.errors,
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
    }


@app.command("list")
def list_connections(
    organization: OrganizationOption = None,
    status: Annotated[ConnectionStatusChoice | None, typer.Option(help="Only connections in this status.")] = None,
    platform: Annotated[str | None, typer.Option(help="Only this platform's (tryton, xero, ...).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Connections, newest first."""
    from sqlalchemy import select

    from models import AccountingConnection, session_scope

    query = select(AccountingConnection).order_by(
        AccountingConnection.created_at.desc(), AccountingConnection.id
    )
    if organization is not None:
        query = query.where(AccountingConnection.organization_id == organization)
    if status is not None:
        query = query.where(AccountingConnection.status == status.value)
    if platform is not None:
        query = query.where(AccountingConnection.platform == platform)
    with session_scope() as session:
        connections = list(session.scalars(query))
    rows = [connection_row(c) if as_json else {**connection_row(c), "last_error": _last_error(c)} for c in connections]
    print_rows(rows, LIST_COLUMNS, as_json=as_json, empty="no connections")


@app.command("show")
def show_connection(connection_id: ConnectionArgument, as_json: JsonOption = False) -> None:
    """One connection: status, schedule, lease, cursors, errors, synced records by status; never credentials."""
    from sqlalchemy import func, select

    from config.logging import redact_processor
    from models import AccountingConnection, AccountingSyncedRecord, session_scope

    with session_scope() as session:
        connection = require(session, AccountingConnection, connection_id, "connection")
        counts = dict(
            session.execute(
                select(AccountingSyncedRecord.sync_status, func.count())
                .where(AccountingSyncedRecord.connection_id == connection_id)
                .group_by(AccountingSyncedRecord.sync_status)
            ).all()
        )
        row = connection_row(connection)
        row.update(
            settings=dict(redact_processor(None, "", dict(connection.settings or {}))),
            backfill=connection.backfill,
            last_sync_started_at=connection.last_sync_started_at,
            sync_count=connection.sync_count,
            retry_count=connection.retry_count,
            lease_holder=connection.lease_holder,
            lease_expires_at=connection.lease_expires_at,
            cursors=connection.cursors,
            synced_records={status: counts.get(status, 0) for status in ("pending", "done", "error")},
            books=connection.books_id,
            defaults=connection.push_defaults.stored(),
        )
        budget = _rate_limit_budget(connection)
        if budget is not None:
            row["rate_limit"] = budget
    fields = dict(row)
    fields["errors"] = [e.get("message", e) if isinstance(e, dict) else e for e in row["errors"]]
    print_object(row, as_json=as_json, fields=fields)


def _rate_limit_budget(connection: AccountingConnection) -> dict[str, Any] | None:
    """The connection's call budget as the shared limiter last saw it (providers with limits only)."""
    from providers.registry import UnknownPlatformError, provider_class

    try:
        budget = provider_class(connection.platform).rate_limit_budget(connection.settings or {})
    except UnknownPlatformError:
        return None
    if not budget:
        return None
    shown = ("day_remaining", "minute_remaining", "as_of", "in_flight", "blocked_until")
    return {name: budget.get(name) for name in shown if budget.get(name) is not None} or None


def _print_sync_outcome(outcome: Outcome) -> None:
    summary = outcome.value if isinstance(outcome.value, dict) else {}
    fields = {
        "connection": summary.get("connection_id"),
        "organization": summary.get("organization_id"),
        "platform": summary.get("platform"),
        "trigger": summary.get("trigger"),
        "status": summary.get("status"),
        "message": summary.get("message") or None,
        "duration": f"{summary.get('duration_ms', 0) / 1000:.2f} s",
        "task": outcome.task_id,
    }
    typer.echo(format_fields(fields))
    kinds = sorted({*summary.get("pulled", {}), *summary.get("pushed", {}), *summary.get("errors", {})})
    if kinds:
        rows = [
            {"object_type": kind, "pulled": summary.get("pulled", {}).get(kind, 0),
             "pushed": summary.get("pushed", {}).get(kind, 0), "errors": summary.get("errors", {}).get(kind, 0)}
            for kind in kinds
        ]
        typer.echo("")
        typer.echo(format_table(rows, (("object_type", "OBJECT TYPE"), ("pulled", "PULLED"),
                                       ("pushed", "PUSHED"), ("errors", "ERRORS"))))


def sync(
    connection_id: ConnectionArgument,
    full_reconcile: Annotated[bool, typer.Option(
        "--full-reconcile",
        help="Also list every document id in the accounting system, to find what was deleted there now.",
    )] = False,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    as_json: JsonOption = False,
) -> None:
    """Enqueue a manual sync of one connection (tasks.sync_connection); --wait follows it to the end.

    Exit status 1 when the connection is not found or disconnected, or (with --wait) when the sync
    failed, was interrupted, or found the connection busy with another sync.
    """
    from models import AccountingConnection, ConnectionStatus, session_scope

    require_broker()
    with session_scope() as session:
        connection = require(session, AccountingConnection, connection_id, "connection")
        if connection.status == ConnectionStatus.DISCONNECTED:
            fail(f"connection {connection_id} is disconnected; there is nothing to sync")
    args: list[Any] = [str(connection_id), "manual", True] if full_reconcile else [str(connection_id), "manual"]
    result = send("tasks.sync_connection", args)
    if not wait:
        _print_enqueued("tasks.sync_connection", result.id, {"connection_id": str(connection_id)}, as_json)
        return
    note(f"waiting for sync task {result.id} (up to {timeout:g}s) ...")
    outcome = follow(result, timeout)
    if as_json:
        print_json({"task_id": outcome.task_id, "state": outcome.state, "result": outcome.value})
    elif outcome.succeeded:
        _print_sync_outcome(outcome)
    if not outcome.finished:
        fail(not_finished_message(outcome, timeout))
    if not outcome.succeeded:
        fail(f"sync task {outcome.task_id} ended {outcome.state}: {outcome.value}")
    status = outcome.value.get("status") if isinstance(outcome.value, dict) else None
    if status in FAILED_SYNC_STATUSES:
        raise typer.Exit(EXIT_FAILED)


def disconnect(
    connection_id: ConnectionArgument,
    wait: WaitOption = False,
    timeout: TimeoutOption = 120.0,
    as_json: JsonOption = False,
) -> None:
    """Mark a connection disconnected (no more syncs) and enqueue tasks.disconnect_connection to revoke its access.

    Its synced records stay readable.
    """
    from models import AccountingConnection, ConnectionStatus, session_scope
    from webhooks import emit

    require_broker()
    with session_scope() as session:
        connection = require(session, AccountingConnection, connection_id, "connection")
        emit(connection, session)
        connection.status = ConnectionStatus.DISCONNECTED.value
    result = send("tasks.disconnect_connection", [str(connection_id)])
    if not wait:
        _print_enqueued("tasks.disconnect_connection", result.id,
                        {"connection_id": str(connection_id), "status": "disconnected"}, as_json)
        return
    outcome = follow(result, timeout)
    if as_json:
        print_json({"task_id": outcome.task_id, "state": outcome.state, "result": outcome.value})
    if not outcome.finished:
        fail(not_finished_message(outcome, timeout))
    if not outcome.succeeded:
        fail(f"disconnect task {outcome.task_id} ended {outcome.state}: {outcome.value}")
    if not as_json:
        typer.echo(f"connection {connection_id} is disconnected")


def _print_enqueued(task: str, task_id: str, about: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json({"task": task, "task_id": task_id, **about})
    else:
        subject = ", ".join(f"{k} {v}" for k, v in about.items())
        typer.echo(f"enqueued {task}[{task_id}] ({subject})")


@app.command("update-credentials")
def update_credentials(
    connection_id: ConnectionArgument,
    credentials_file: Annotated[typer.FileText, typer.Option(
        "--credentials-file", help="A JSON object of the new credentials (tryton: username, password); - reads stdin.",
    )],
    settings_json: Annotated[str | None, typer.Option(
        "--settings", help="A JSON object of settings to change at the same time, e.g. '{\"url\": \"https://...\"}'.",
    )] = None,
    as_json: JsonOption = False,
) -> None:
    """Give a connected or deauthorized connection new credentials, checked by a test call first.

    They must reach the same books; the connection keeps its synced records and is connected again.
    Credentials are read from a file (or stdin), never from the command line, so they stay out of
    shell history and process listings.
    """
    import json

    from models import get_sessionmaker
    from providers.errors import AuthenticationError, ProviderError, RetryableError
    from tasks.engine.reconnect import CannotReplace, replace_credentials

    def _object(text: str, what: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except ValueError as exc:
            fail(f"{what} is not JSON: {exc}", EXIT_USAGE)
        if not isinstance(value, dict):
            fail(f"{what} must be a JSON object", EXIT_USAGE)
        return value

    credentials = _object(credentials_file.read(), "the credentials file")
    settings = _object(settings_json, "--settings") if settings_json else {}
    try:
        connection = replace_credentials(get_sessionmaker(), connection_id, credentials, settings)
    except CannotReplace as exc:
        fail(exc.message)
    except AuthenticationError as exc:
        fail(f"the accounting system refused the credentials: {exc.message}")
    except RetryableError as exc:
        fail(f"could not reach the accounting system: {exc.message}; try again later")
    except ProviderError as exc:
        fail(f"the accounting system answered with an error: {exc.message}")
    if as_json:
        print_json(connection_row(connection))
    else:
        typer.echo(f"connection {connection.id} has new credentials and is {connection.status}")



@app.command("defaults")
def defaults(
    connection_id: ConnectionArgument,
    payment_account: Annotated[str | None, typer.Option(
        "--payment-account", metavar="LEDGER_ACCOUNT_ID",
        help="The ledger account payments are pushed to (booksync's id, GET /ledger-accounts); none clears it.",
    )] = None,
    product_account: Annotated[str | None, typer.Option(
        "--product-account", metavar="LEDGER_ACCOUNT_ID",
        help="The ledger account products without their own are sold with; none clears it.",
    )] = None,
    as_json: JsonOption = False,
) -> None:
    """Show, or change, what the connection's pushes default to (the same as PATCH
    /accounting-connections/{id}/defaults): needs no credentials, makes no call to the accounting system, and
    applies to the next push."""
    import uuid

    from models import AccountingConnection, ConnectionStatus, LedgerAccount, session_scope
    from tasks.engine.defaults import DefaultsError, change_defaults

    changes: dict[str, uuid.UUID | None] = {}
    for name, value in (("payment_ledger_account_id", payment_account), ("product_ledger_account_id", product_account)):
        if value is None:
            continue
        if value.lower() == "none":
            changes[name] = None
            continue
        try:
            changes[name] = uuid.UUID(value)
        except ValueError:
            fail(f"{value!r} is not a ledger account id (a UUID, or none)", EXIT_USAGE)
    with session_scope() as session:
        connection = require(session, AccountingConnection, connection_id, "connection")
        if changes:
            if connection.status == ConnectionStatus.DISCONNECTED:
                fail(f"connection {connection_id} is disconnected; its defaults no longer apply")
            try:
                current = change_defaults(session, connection, changes)
            except DefaultsError as exc:
                fail(f"{exc.field}: {exc.message}")
        else:
            current = connection.push_defaults
        shown: dict[str, Any] = {}
        for name in ("payment_ledger_account_id", "product_ledger_account_id"):
            account_id = getattr(current, name)
            account = session.get(LedgerAccount, account_id) if account_id is not None else None
            shown[name] = None if account_id is None else {
                "id": str(account_id), "name": account.name if account else None,
                "nominal_code": account.nominal_code if account else None,
            }
    if as_json:
        print_json(shown)
        return
    typer.echo(format_fields({
        "payments go to": _account_text(shown["payment_ledger_account_id"], "the accounting system's default"),
        "products sell on": _account_text(shown["product_ledger_account_id"], "the accounting system's default"),
    }))


def _account_text(account: dict[str, Any] | None, otherwise: str) -> str:
    if account is None:
        return f"(not set: {otherwise})"
    code = f"{account['nominal_code']} " if account.get("nominal_code") else ""
    return f"{account['id']} ({code}{account['name']})"
