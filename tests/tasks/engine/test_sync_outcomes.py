"""The engine's outcomes, run as plain functions (no broker) on SQLite and PostgreSQL against a real Tryton."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config import get_settings

from sandboxes.tryton.sandbox import SandboxInfo
from sandboxes.tryton.sandbox import free_port
from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus, Counterpart, Organization
from models.db import get_sessionmaker
from providers.errors import RateLimited, RetryableError
from providers.http import call_deadline
from tasks.definitions import backoff, provider_time
from tasks.engine import sync
from tasks.engine.connections import open_provider
from tests.conftest_tryton import tryton_raw, tryton_sandbox, tryton_template  # noqa: F401
from tests.tasks.conftest import connect_tryton, make_bill, make_counterpart, make_organization, tryton_invoice_count


def _connection(sandbox: SandboxInfo, **overrides: Any) -> tuple[Any, Any]:
    with get_sessionmaker()() as session:
        org = make_organization(session)
        vendor = make_counterpart(session, org, "Vandelay Industries", vendor=True)
        bill = make_bill(session, org, vendor, "B-OUT-1")
        connection = connect_tryton(session, org, sandbox, **overrides)
        return connection.id, bill


def _set(connection_id: Any, **values: Any) -> None:
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, connection_id)
        assert connection is not None
        for name, value in values.items():
            setattr(connection, name, value)
        session.commit()


def _get(connection_id: Any) -> AccountingConnection:
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, connection_id)
        assert connection is not None
        return connection


def test_a_first_sync_without_backfill_pushes_only_what_became_eligible_after_connecting(
    db_url: str, tryton_sandbox: SandboxInfo
) -> None:
    connection_id, _ = _connection(tryton_sandbox, backfill=False, connected_at=datetime.now(UTC) + timedelta(minutes=5))
    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")
    assert summary.status == "done" and summary.pushed == {}

    _set(connection_id, backfill=True)
    assert sync.run_sync(get_sessionmaker(), connection_id, "manual").pushed["bill"] == 1


def test_a_down_server_is_retryable_and_leaves_the_connection_free(db_url: str, tryton_sandbox: SandboxInfo) -> None:
    connection_id, _ = _connection(tryton_sandbox)
    _set(connection_id, settings={**tryton_sandbox.settings, "url": f"http://127.0.0.1:{free_port()}"})

    with pytest.raises(RetryableError):
        sync.run_sync(get_sessionmaker(), connection_id, "schedule")
    connection = _get(connection_id)
    assert connection.lease_holder is None and connection.status == ConnectionStatus.CONNECTED
    assert connection.retry_count == 1

    sync.record_retry_exhausted(get_sessionmaker(), connection_id, RetryableError("Tryton did not answer"))
    assert "Tryton did not answer" in _get(connection_id).errors[0]["message"]


def test_backoff_grows_is_jittered_bounded_and_honours_retry_after() -> None:
    first = [backoff(0, None) for _ in range(200)]
    assert 15 <= min(first) and max(first) <= 30 and len(set(first)) > 3
    assert min(backoff(8, None) for _ in range(50)) <= 3600 and max(backoff(20, None) for _ in range(50)) <= 3600
    assert min(backoff(0, 120.0) for _ in range(50)) >= 120


def test_new_provider_calls_stop_well_before_the_soft_limit_and_one_under_way_may_finish() -> None:
    assert provider_time(1500) == (1470.0, 1495.0)
    assert provider_time(20) == (5.0, 15.0)  # new calls get at least 5 s, one under way the rest less 5 s
    assert provider_time(10) == (5.0, 5.0)


def test_a_sync_whose_time_for_new_calls_is_spent_stops_at_a_clean_point_to_continue_in_a_new_one(
    db_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any
) -> None:
    connection_id, _ = _connection(tryton_sandbox)
    before = tryton_invoice_count(tryton_raw)
    with call_deadline(60), pytest.raises(RateLimited) as stopped:
        sync.run_sync(get_sessionmaker(), connection_id, "manual", calls_until=time.monotonic() - 1)
    assert stopped.value.details == {"reason": "time"} and stopped.value.retry_after == 1.0
    assert tryton_invoice_count(tryton_raw) == before, "nothing is pushed once the time for calls is spent"
    stopped_at = _get(connection_id)
    assert stopped_at.lease_holder is None
    # Durable without the continuation message: a worker lost before sending it leaves the connection due
    # shortly (the continuation's delay and a lease), not at its next hourly slot.
    assert stopped_at.next_sync_at is not None
    assert stopped_at.next_sync_at <= datetime.now(UTC) + timedelta(seconds=1 + get_settings().lease_seconds)
    assert sync.run_sync(get_sessionmaker(), connection_id, "manual").pushed["bill"] == 1
    finished = _get(connection_id)
    assert finished.next_sync_at is not None
    assert finished.next_sync_at == sync.next_slot(connection_id, finished.last_sync_finished_at,
                                                   get_settings().sync_period_seconds), \
        "a finished sync moves the connection back to its regular slot"


def test_a_document_deleted_in_the_accounting_system_is_never_recreated(
    db_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any
) -> None:
    connection_id, bill = _connection(tryton_sandbox)
    sync.run_sync(get_sessionmaker(), connection_id, "manual")
    with get_sessionmaker()() as session:
        record = session.execute(select(AccountingSyncedRecord).where(
            AccountingSyncedRecord.object_id == bill.id)).scalar_one()
    tryton_raw.model("account.invoice", "delete", [int(record.platform_object_id)])
    count = tryton_invoice_count(tryton_raw)

    _set(connection_id, sync_count=24)  # the next sync is a full reconcile
    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")
    assert summary.full_reconcile and summary.deleted == {"bill": 1}

    with get_sessionmaker()() as session:
        from models import Payable

        payable = session.get(Payable, bill.id)
        assert payable is not None
        payable.memo = "changed after it was deleted remotely"
        session.commit()
    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")
    assert summary.pushed.get("bill", 0) == 0
    assert tryton_invoice_count(tryton_raw) == count
    with get_sessionmaker()() as session:
        record = session.execute(select(AccountingSyncedRecord).where(
            AccountingSyncedRecord.object_id == bill.id)).scalar_one()
    assert record.sync_status == "error" and "deleted in the accounting system" in record.errors["message"]


def test_refused_credentials_deauthorize_the_connection_and_stop_its_schedule(
    db_url: str, tryton_sandbox: SandboxInfo
) -> None:
    connection_id, _ = _connection(tryton_sandbox)
    _set(connection_id, credentials={**tryton_sandbox.credentials, "password": "wrong-password-123"})
    summary = sync.run_sync(get_sessionmaker(), connection_id, "schedule")

    connection = _get(connection_id)
    assert summary.status == "failed"
    assert connection.status == ConnectionStatus.DEAUTHORIZED and connection.next_sync_at is None
    assert "reconnect" in connection.errors[0]["message"]
    assert "wrong-password-123" not in str(connection.errors)
    assert connection.lease_holder is None


def test_settings_the_provider_refuses_fail_the_sync_with_a_message_on_the_connection(
    db_url: str, tryton_sandbox: SandboxInfo
) -> None:
    connection_id, _ = _connection(tryton_sandbox)
    _set(connection_id, settings={"url": tryton_sandbox.url})
    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")

    connection = _get(connection_id)
    assert summary.status == "failed"
    assert "database" in connection.errors[0]["message"]
    assert connection.status == ConnectionStatus.CONNECTED and connection.lease_holder is None


def _provider_seeing_lags(lags: list[tuple[str, float]], *, rate_limited_push: bool) -> Any:
    """The connection's real provider, noting the lag window each pull asks for; its document pushes
    answer ``RateLimited`` when asked to (a sync that used its budget after pulling)."""

    def factory(connection: AccountingConnection) -> Any:
        provider = open_provider(connection)
        iter_documents = provider.iter_documents

        def noted(kind: Any, cursor: Any, *, lag_seconds: float = 0.0) -> Any:
            lags.append((kind.value, lag_seconds))
            return iter_documents(kind, cursor, lag_seconds=lag_seconds)

        def spent(requests: Any) -> Any:
            raise RateLimited("the minute's budget is spent", retry_after=1.0)

        provider.iter_documents = noted  # type: ignore[method-assign]
        if rate_limited_push:
            provider.push_documents = spent  # type: ignore[method-assign]
        return provider

    return factory


def test_a_sync_continued_after_its_budget_reads_only_past_the_cursor_and_reaches_its_pushes(
    db_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any
) -> None:
    """A continuation that re-read the lag window could spend its whole run there, run after run."""
    connection_id, first_bill = _connection(tryton_sandbox, backfill=True)
    sessions = get_sessionmaker()
    assert sync.run_sync(sessions, connection_id, "manual").pushed["bill"] == 1  # the cursors are set
    with sessions() as session:
        organization, vendor = session.get(Organization, first_bill.organization_id), session.get(
            Counterpart, first_bill.counterpart_id)
        assert organization is not None and vendor is not None
        make_bill(session, organization, vendor, "B-OUT-2")
        session.commit()
    lag = float(get_settings().pull_lag_seconds)
    lags: list[tuple[str, float]] = []
    with pytest.raises(sync.SyncContinues) as stopped:
        sync.run_sync(sessions, connection_id, "manual", provider_factory=_provider_seeing_lags(lags, rate_limited_push=True))
    assert lags == [("payable", lag), ("receivable", lag)]
    assert stopped.value.read_past_lag == {"payable", "receivable"}
    assert _get(connection_id).lease_holder is None

    lags.clear()
    summary = sync.run_sync(sessions, connection_id, "manual", resumed=stopped.value.read_past_lag,
                            provider_factory=_provider_seeing_lags(lags, rate_limited_push=False))
    assert summary.status == "done" and summary.pushed["bill"] == 1
    assert lags == [("payable", 0.0), ("receivable", 0.0)], "a continuation re-read the lag window"

    lags.clear()
    sync.run_sync(sessions, connection_id, "schedule", provider_factory=_provider_seeing_lags(lags, rate_limited_push=False))
    assert lags == [("payable", lag), ("receivable", lag)], "the next sync re-reads the window"
