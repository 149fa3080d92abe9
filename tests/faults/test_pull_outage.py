"""PostgreSQL unreachable in the middle of a pull: the sync ends finished, every document stored once, the
cursors where a clean pull leaves them.

A pull commits each page with the cursor after it, so a pull cut off by the database resumes from its
last stored page (``tasks.engine.pull``). The test's Tryton holds a couple of hundred invoices, pulled two
at a time (the connection's ``page_size``), so the pull takes long enough to cut the database (the test's
own proxy, ``ProxyMode.REFUSE``) while it runs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from models import AccountingConnection, AccountingDocument
from models.db import get_sessionmaker
from sandboxes.tryton.sandbox import SandboxInfo
from tests.conftest_tryton import TrytonRaw
from tests.faults.conftest import booksync_stack, seed_bills
from tests.faults.tally import TALLY
from tests.faults.test_worker_recovery import _client
from tests.support.faults import ProxyMode
from tests.support.processes import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

#: Payables in Tryton at least; its seeded invoices are copied (doubling) until there are this many.
PAYABLES = 150
PAGE_SIZE = 2
TYPE_OF_KIND = {"payable": "in", "receivable": "out"}


@pytest.fixture(scope="module")
def tryton_books(tryton_raw: TrytonRaw) -> dict[str, int]:
    """Tryton's invoices, copied through its JSON-RPC (``copy``, as a person duplicating them would) until
    there are ``PAYABLES`` supplier invoices; returns how many of each kind it holds."""
    while (ids := tryton_raw.model("account.invoice", "search", [["type", "=", "in"]], 0, None, None)) \
            and len(ids) < PAYABLES:
        tryton_raw.model("account.invoice", "copy", ids[: PAYABLES - len(ids)], {})
    return {kind: int(tryton_raw.model("account.invoice", "search_count", [["type", "=", kind_type]]))
            for kind, kind_type in TYPE_OF_KIND.items()}


def _stored(connection_id: uuid.UUID) -> dict[str, tuple[int, int]]:
    """Per kind: the documents rows of the connection, and their distinct platform ids."""
    with get_sessionmaker()() as session:
        rows = session.execute(
            select(AccountingDocument.kind, func.count(), func.count(func.distinct(AccountingDocument.platform_id)))
            .where(AccountingDocument.connection_id == connection_id)
            .group_by(AccountingDocument.kind)
        ).all()
    return {kind: (int(count), int(distinct)) for kind, count, distinct in rows}


def _documents(connection_id: uuid.UUID) -> int:
    return sum(count for count, _ in _stored(connection_id).values())


def _connection(connection_id: uuid.UUID) -> AccountingConnection:
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, connection_id)
        assert connection is not None
        session.expunge(connection)
        return connection


@pytest.fixture
def connection_id(pg_url: str, tryton_sandbox: SandboxInfo) -> Iterator[uuid.UUID]:
    connection, _ = seed_bills(tryton_sandbox, 0, page_size=PAGE_SIZE)  # nothing to push: the pull is the sync
    yield connection


def test_a_database_down_mid_pull_ends_in_a_finished_sync_with_every_document_once_and_the_cursors_right(
    pg_url: str, tryton_books: dict[str, int], connection_id: uuid.UUID, tmp_path: Path
) -> None:
    total = sum(tryton_books.values())
    with booksync_stack(tmp_path, pg_url, via_proxy=True, database_connect_timeout_seconds="2",
                        database_tcp_user_timeout_seconds="3", pull_lag_seconds="0") as stack:
        assert stack.proxy is not None
        stack.worker("pull")
        stack.beat()
        client = _client(stack.redis.url)
        cut_off = client.send_task("tasks.sync_connection", args=[str(connection_id), "manual"])
        wait_for(lambda: _documents(connection_id) >= 20, timeout=60, interval=0.05, what="the pull under way")

        stack.proxy.set(ProxyMode.REFUSE)
        cut_at = time.monotonic()
        stored_at_cut = _documents(connection_id)  # asked directly, not through the proxy
        assert stored_at_cut < total, "the pull finished before the cut; nothing was tested"
        log = tmp_path / "worker-pull.log"
        wait_for(lambda: "DatabaseUnavailable" in log.read_text(), timeout=30, what="the pull to fail on the database")
        stack.proxy.set(ProxyMode.PASS)
        wait_for(lambda: _connection(connection_id).last_sync_finished_at is not None, timeout=120, interval=0.5,
                 what="the sync to finish after the database came back")
        recovery = time.monotonic() - cut_at
        first = _connection(connection_id)
        # the cut-off task's own retry (Celery's countdown) ends too, whichever of it and the sync beat
        # started once the dead lease lapsed ran first (the other found the work done, or the lease taken)
        assert cut_off.get(timeout=60)["status"] in ("done", "busy")

        # a pull from where the finished one left its cursors finds nothing new (no lag re-read here)
        again = client.send_task("tasks.sync_connection", args=[str(connection_id), "manual"]).get(timeout=60)
    stored = _stored(connection_id)
    found = sum(count for count, _ in stored.values())
    TALLY.books(expected=total, found=found)
    TALLY.fault(found == total)
    assert stored == {kind: (count, count) for kind, count in tryton_books.items()}, "a document stored twice or lost"
    for kind in TYPE_OF_KIND:
        cursor = json.loads(first.cursors[kind])
        assert "pos" not in cursor and cursor["after"], f"the {kind} pull's cursor is not a finished pull's: {cursor}"
    assert again["status"] == "done"
    assert again["pulled"].get("bill", 0) == 0 and again["pulled"].get("receivable", 0) == 0, again
    assert _connection(connection_id).cursors == first.cursors
    print(f"\npull cut off by the database after {stored_at_cut} of {total} documents; finished {recovery:.0f} s "
          "after the cut")

