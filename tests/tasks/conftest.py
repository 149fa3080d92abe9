"""A real Tryton server per module and a real Celery worker on Redis and PostgreSQL for the task tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from sandboxes.tryton.sandbox import SandboxInfo
from models import (
    AccountingConnection,
    ConnectionStatus,
    Counterpart,
    Organization,
    Payable,
    PayableLineItem,
    Receivable,
    ReceivableLineItem,
)
from tests.conftest_tryton import tryton_raw, tryton_sandbox, tryton_template  # noqa: F401
from tests.support.databases import migrated_engine
from tests.support.processes import celery_worker_args, running, wait_for


@pytest.fixture(scope="module")
def worker_process(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One prefork worker (2 processes) on Redis and the test PostgreSQL database, sharing the test's secret key."""
    migrated_engine(postgres_url).dispose()
    env = {"BOOKSYNC_DATABASE_URL": postgres_url, "BOOKSYNC_BROKER_URL": redis_url,
           "BOOKSYNC_HOME": os.environ["BOOKSYNC_HOME"]}
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with running(celery_worker_args(concurrency=2, hostname=f"tasks-{uuid.uuid4().hex[:6]}@%h"), env, log):
        wait_for(lambda: "ready" in log.read_text(), timeout=60, what="the Celery worker to be ready")
        yield env | {"log": str(log)}


@pytest.fixture
def celery_client(worker_process: dict[str, str], pg_url: str) -> Any:
    """The test process's Celery app; it publishes to the worker's Redis (see tests/conftest.py)."""
    from worker import app

    assert app.conf.broker_url == worker_process["BOOKSYNC_BROKER_URL"]
    return app


def make_organization(session: Session) -> Organization:
    org = Organization(name="Acme Books")
    session.add(org)
    session.flush()
    return org


def connect_tryton(session: Session, org: Organization, sandbox: SandboxInfo, *, backfill: bool = True,
                   connected_at: datetime | None = None) -> AccountingConnection:
    """A connected Tryton connection, made as the API makes one: the test call names its books."""
    from tasks.engine.reconnect import check_connection

    check = check_connection("tryton", sandbox.settings, sandbox.credentials)
    connection = AccountingConnection(
        organization_id=org.id, platform="tryton", status=ConnectionStatus.CONNECTED.value,
        settings={**sandbox.settings, **check.pinned_settings}, credentials=sandbox.credentials, backfill=backfill,
        books_id=check.books_id,
        connected_at=connected_at or datetime.now(UTC), next_sync_at=datetime.now(UTC) + timedelta(hours=1),
    )
    session.add(connection)
    session.commit()
    return connection


def make_counterpart(session: Session, org: Organization, name: str, *, vendor: bool) -> Counterpart:
    counterpart = Counterpart(organization_id=org.id, name=name, is_vendor=vendor, is_customer=not vendor)
    session.add(counterpart)
    session.flush()
    return counterpart


def make_bill(session: Session, org: Organization, vendor: Counterpart, number: str, *, unit_price: int = 10_000,
              tax_rate_value: int | None = 2000, status: str = "waiting_to_be_paid") -> Payable:
    now = datetime.now(UTC)
    tax = (unit_price * (tax_rate_value or 0)) // 10_000
    bill = Payable(
        organization_id=org.id, counterpart_id=vendor.id, document_number=number, currency="USD",
        subtotal=unit_price, tax_amount=tax, total_amount=unit_price + tax, status=status,
        issue_date=date.today(), due_date=date.today() + timedelta(days=30),
        eligible_at=now if status != "draft" else None,
        lines=[PayableLineItem(description=f"{number} services", quantity=Decimal(1), unit_price=unit_price,
                               total=unit_price, tax_rate_value=tax_rate_value)],
    )
    session.add(bill)
    session.flush()
    return bill


def make_invoice(session: Session, org: Organization, customer: Counterpart, number: str, *, unit_price: int = 25_000,
                 tax_rate_value: int | None = 2000, status: str = "issued") -> Receivable:
    now = datetime.now(UTC)
    tax = (unit_price * (tax_rate_value or 0)) // 10_000
    invoice = Receivable(
        organization_id=org.id, counterpart_id=customer.id, document_number=number, currency="USD",
        subtotal=unit_price, tax_amount=tax, total_amount=unit_price + tax, status=status,
        issue_date=date.today(), due_date=date.today() + timedelta(days=30), eligible_at=now,
        lines=[ReceivableLineItem(description=f"{number} consulting", quantity=Decimal(1), unit_price=unit_price,
                                  total=unit_price, tax_rate_value=tax_rate_value)],
    )
    session.add(invoice)
    session.flush()
    return invoice


def tryton_invoice(raw: Any, invoice_id: str) -> dict[str, Any]:
    rows = raw.search_read("account.invoice", [["id", "=", int(invoice_id)]],
                           ["id", "type", "state", "reference", "total_amount", "party"])
    assert len(rows) == 1, f"Tryton has no invoice {invoice_id}"
    return rows[0]


def tryton_invoice_count(raw: Any) -> int:
    return len(raw.search_read("account.invoice", [], ["id"]))


def add_tryton_tax(raw: Any, rate: str, name: str) -> None:
    existing = raw.search_read("account.tax", [["name", "=", "VAT 20%"]], ["id"])[0]["id"]
    raw.model("account.tax", "copy", [existing], {"name": name, "description": name,
                                                   "rate": {"__class__": "Decimal", "decimal": rate}})


__all__ = ["Path"]


def connect_memory(session: Session, org: Organization, books: str, *, backfill: bool = True,
                   max_batch: int = 10, connected_at: datetime | None = None, **settings: Any) -> AccountingConnection:
    """A connected connection to the in-memory books ``books`` (``sandboxes.memory``); ``settings`` are the
    memory provider's others (``post_documents``, ``payments``, ``products``)."""
    from sandboxes.memory import PASSWORD

    connection = AccountingConnection(
        organization_id=org.id, platform="memory", status=ConnectionStatus.CONNECTED.value,
        settings={"books": books, "max_batch": max_batch, **settings}, credentials={"password": PASSWORD},
        books_id=f"memory:{books}", backfill=backfill, connected_at=connected_at or datetime.now(UTC),
        next_sync_at=datetime.now(UTC) + timedelta(hours=1),
    )
    session.add(connection)
    session.commit()
    return connection
