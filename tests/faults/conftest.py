"""The fault suite: booksync broken on purpose, for real, with nothing lost and no person needed.

Each test owns what it breaks: a redis-server of its own, a TCP proxy between booksync and the shared
PostgreSQL, worker processes it kills. The machine's shared services are never stopped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus, Organization
from models.db import get_sessionmaker
from sandboxes.tryton.sandbox import SandboxInfo
from tests.conftest_tryton import tryton_raw, tryton_sandbox, tryton_template  # noqa: F401
from tests.support.databases import migrated_engine
from tests.support.faults import RedisServer, TcpProxy, redis_server, tcp_proxy
from tests.support.processes import celery_worker_args, running, wait_for, VENV_BIN
from tests.tasks.conftest import make_bill, make_counterpart, make_organization

pytestmark = pytest.mark.faults


@dataclass
class Stack:
    """booksync's worker (and beat) on a broker and a database path the test controls."""

    env: dict[str, str]
    logs: Path
    stack: ExitStack
    redis: RedisServer
    proxy: TcpProxy | None

    def worker(self, name: str = "w") -> Any:
        log = self.logs / f"worker-{name}.log"
        process = self.stack.enter_context(running(
            celery_worker_args(concurrency=2, hostname=f"fault-{name}-{uuid.uuid4().hex[:4]}@%h"), self.env, log))
        wait_for(lambda: "ready" in log.read_text() or process.poll() is not None, timeout=60, what="the worker")
        assert process.poll() is None, log.read_text()[-3000:]
        return process

    def beat(self) -> Any:
        log = self.logs / "beat.log"
        schedule = self.logs / "celerybeat-schedule"
        return self.stack.enter_context(running(
            [str(VENV_BIN / "celery"), "-A", "worker", "beat", "--loglevel", "INFO", "-s", str(schedule)],
            self.env, log))


@contextmanager
def booksync_stack(tmp_path: Path, postgres_url: str, *, via_proxy: bool = False, **settings: str) -> Iterator[Stack]:
    """A redis-server of the test's own; PostgreSQL direct or through a proxy the test switches."""
    migrated_engine(postgres_url).dispose()
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp_path))
        database_url = postgres_url
        proxy = None
        if via_proxy:
            url = make_url(postgres_url)
            proxy = stack.enter_context(tcp_proxy(url.host or "127.0.0.1", url.port or 5432))
            database_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        env = {
            "BOOKSYNC_DATABASE_URL": database_url, "BOOKSYNC_BROKER_URL": redis.url,
            "BOOKSYNC_HOME": os.environ["BOOKSYNC_HOME"], "BOOKSYNC_LEASE_SECONDS": "15",
            "BOOKSYNC_SCHEDULE_INTERVAL_SECONDS": "3",
            **{f"BOOKSYNC_{name.upper()}": value for name, value in settings.items()},
        }
        yield Stack(env, tmp_path, stack, redis, proxy)


def connect(session: Any, org: Organization, sandbox: SandboxInfo, **settings: Any) -> AccountingConnection:
    from tasks.engine.reconnect import check_connection

    check = check_connection("tryton", sandbox.settings, sandbox.credentials)
    connection = AccountingConnection(
        organization_id=org.id, platform="tryton", status=ConnectionStatus.CONNECTED.value,
        settings={**sandbox.settings, **check.pinned_settings, **settings}, credentials=sandbox.credentials,
        books_id=check.books_id, backfill=True, connected_at=datetime.now(UTC),
        next_sync_at=datetime.now(UTC) + timedelta(hours=1),
    )
    session.add(connection)
    session.commit()
    return connection


def seed_bills(sandbox: SandboxInfo, count: int, **settings: Any) -> tuple[uuid.UUID, str]:
    """An organization with ``count`` approved bills for one vendor, connected to Tryton; returns the
    connection id and the prefix of the bills' numbers."""
    prefix = f"F{uuid.uuid4().hex[:6]}-"
    with get_sessionmaker()() as session:
        org = make_organization(session)
        vendor = make_counterpart(session, org, f"Fault Vendor {prefix}", vendor=True)
        for index in range(count):
            make_bill(session, org, vendor, f"{prefix}{index:04d}")
        connection = connect(session, org, sandbox, **settings)
        session.commit()
        return connection.id, prefix


def seed_cloud_bills(platform: str, books_id: str, settings: dict[str, Any], credentials: dict[str, Any],
                     count: int) -> tuple[uuid.UUID, str]:
    """Like ``seed_bills``, connected to a cloud accounting system (the local Xero or QuickBooks) as its OAuth
    callback connects one: the tenant's settings and token set, the books named by the tenant."""
    prefix = f"F{uuid.uuid4().hex[:6]}-"
    with get_sessionmaker()() as session:
        org = make_organization(session)
        vendor = make_counterpart(session, org, f"Fault Vendor {prefix}", vendor=True)
        for index in range(count):
            make_bill(session, org, vendor, f"{prefix}{index:04d}")
        connection = AccountingConnection(
            organization_id=org.id, platform=platform, status=ConnectionStatus.CONNECTED.value, settings=settings,
            credentials=credentials, books_id=books_id, backfill=True, connected_at=datetime.now(UTC),
            next_sync_at=datetime.now(UTC) + timedelta(hours=1),
        )
        session.add(connection)
        session.commit()
        return connection.id, prefix


def done_count(connection_id: uuid.UUID, object_type: str = "bill") -> int:
    with get_sessionmaker()() as session:
        org = session.scalar(select(AccountingConnection.organization_id).where(AccountingConnection.id == connection_id))
        return int(session.scalar(
            select(func.count()).select_from(AccountingSyncedRecord).where(
                AccountingSyncedRecord.organization_id == org, AccountingSyncedRecord.object_type == object_type,
                AccountingSyncedRecord.sync_status == "done",
            )
        ) or 0)


def tryton_count(raw: Any, prefix: str) -> int:
    return int(raw.model("account.invoice", "search_count", [["reference", "like", f"{prefix}%"]]))


@pytest.fixture
def api_client(pg_url: str, redis_url: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def api_tenant(pg_url: str) -> Any:
    from tests.api.conftest import make_tenant

    with get_sessionmaker()() as session:
        return make_tenant(session, "Fault Org")
