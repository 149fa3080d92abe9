"""PostgreSQL unreachable or silently partitioned mid-sync: bounded failures, 503s, and a finished sync after.

The test's own TCP proxy sits between booksync (worker and API) and the shared PostgreSQL: refusing
connections is a database that is down; holding every byte is a silent partition (no reset).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from sandboxes.tryton.sandbox import SandboxInfo
from tests.faults.conftest import booksync_stack, done_count, seed_bills, tryton_count
from tests.faults.test_worker_recovery import _client
from tests.support.env import booksync_env
from tests.support.faults import ProxyMode
from tests.faults.tally import TALLY
from tests.support.processes import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BILLS = 120


def _api(database_url: str, broker_url: str) -> Any:
    """The API in this process, on the database path the test controls."""
    from api.app import create_app

    return booksync_env(database_url=database_url, broker_url=broker_url, home=os.environ["BOOKSYNC_HOME"],
                        database_connect_timeout_seconds="2", database_tcp_user_timeout_seconds="2",
                        database_statement_timeout_seconds="3"), create_app


def _lingering(postgres_url: str) -> int:
    """booksync sessions the server still holds open in a transaction (asked directly, not via the proxy)."""
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'booksync' AND datname = "
                "current_database() AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )).scalar() or 0)
    finally:
        engine.dispose()


def _lingering_sessions(postgres_url: str) -> list[tuple[object, ...]]:
    """What the server says of each lingering booksync session: for a failure's message."""
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(
                "SELECT pid, state, wait_event_type, wait_event, now() - state_change, client_port, left(query, 80) "
                "FROM pg_stat_activity WHERE application_name = 'booksync' AND datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"))]
    finally:
        engine.dispose()


def test_a_database_down_mid_push_makes_the_sync_retry_and_the_api_answer_503(
    pg_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any, tmp_path: Path
) -> None:
    connection_id, prefix = seed_bills(tryton_sandbox, BILLS, post_documents=True)
    with booksync_stack(tmp_path, pg_url, via_proxy=True, database_connect_timeout_seconds="2",
                        database_tcp_user_timeout_seconds="3") as stack:
        assert stack.proxy is not None
        stack.worker("db")
        client = _client(stack.redis.url)
        client.send_task("tasks.sync_connection", args=[str(connection_id), "manual"])
        wait_for(lambda: done_count(connection_id) >= 10, timeout=180, what="the first pushes")

        stack.proxy.set(ProxyMode.REFUSE)
        env, create_app = _api(stack.env["BOOKSYNC_DATABASE_URL"], stack.redis.url)
        with env, TestClient(create_app()) as api:
            started = time.monotonic()
            answer = api.get("/readyz")
            assert answer.status_code == 503 and time.monotonic() - started < 1.5
            assert "database is down" in answer.json()["error"]["message"]
            # an authenticated call needs the database: 503 with a message, never a 500
            answer = api.get("/accounting-connections", headers={"Authorization": "Bearer bks_" + "0" * 40})
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"error": {"message": "the database is unavailable; nothing was changed, "
                                                          "try again shortly"}}
            assert answer.headers["Retry-After"] == "5"
        time.sleep(20)  # the outage
        stack.proxy.set(ProxyMode.PASS)
        wait_for(lambda: done_count(connection_id) == BILLS, timeout=240, interval=1,
                 what="every bill done after the database came back")
        log = (tmp_path / "worker-db.log").read_text()
    assert "Retry in" in log, "the sync was retried by Celery, not given up"
    found = tryton_count(tryton_raw, prefix)
    TALLY.books(expected=BILLS, found=found)
    TALLY.fault(found == BILLS)
    assert found == BILLS


def test_a_silent_partition_fails_within_bounds_leaves_no_transaction_behind_and_the_next_sync_runs(
    pg_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any, tmp_path: Path
) -> None:
    connection_id, prefix = seed_bills(tryton_sandbox, BILLS, post_documents=True)
    bounds = {"database_connect_timeout_seconds": "2", "database_tcp_user_timeout_seconds": "3",
              "database_statement_timeout_seconds": "5", "database_idle_in_transaction_timeout_seconds": "5"}
    with booksync_stack(tmp_path, pg_url, via_proxy=True, **bounds) as stack:
        assert stack.proxy is not None
        stack.worker("partition")
        client = _client(stack.redis.url)
        client.send_task("tasks.sync_connection", args=[str(connection_id), "manual"])
        wait_for(lambda: done_count(connection_id) >= 10, timeout=180, what="the first pushes")

        stack.proxy.set(ProxyMode.BLACKHOLE)
        env, create_app = _api(stack.env["BOOKSYNC_DATABASE_URL"], stack.redis.url)
        with env, TestClient(create_app()) as api:
            for _ in range(3):  # a probe never hangs, however long the partition
                started = time.monotonic()
                assert api.get("/readyz").status_code == 503
                assert time.monotonic() - started < 1.5
        # the sync's next database call fails within its bounds (TCP user timeout), and Celery retries it
        partitioned = time.monotonic()
        log = tmp_path / "worker-partition.log"
        wait_for(lambda: "Retry in" in log.read_text(), timeout=60, what="the partitioned sync to fail and retry")
        failed_after = time.monotonic() - partitioned
        # the server ends whatever booksync left open in a transaction (idle_in_transaction_session_timeout)
        try:
            wait_for(lambda: _lingering(pg_url) == 0, timeout=60, what="no booksync transaction left on the server")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {_lingering_sessions(pg_url)}") from None
        stack.proxy.set(ProxyMode.PASS)
        wait_for(lambda: done_count(connection_id) == BILLS, timeout=300, interval=1,
                 what="every bill done after the partition healed")
    found = tryton_count(tryton_raw, prefix)
    TALLY.books(expected=BILLS, found=found)
    TALLY.fault(found == BILLS)
    assert found == BILLS
    assert "DatabaseUnavailable" in log.read_text()
    print(f"\npartitioned sync failed (and was retried) {failed_after:.0f} s into the partition")
