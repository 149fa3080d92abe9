"""The API against PostgreSQL through FastAPI's TestClient, with organizations, keys and data seeded in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models import (
    AccountingConnection,
    AccountingDocument,
    AccountingSyncedRecord,
    AccountingTaxRate,
    LedgerAccount,
    Organization,
    utcnow,
)
from tests.conftest_tryton import tryton_sandbox, tryton_template  # noqa: F401


@pytest.fixture
def db(pg_url: str) -> Iterator[Session]:
    from models.db import get_sessionmaker

    with get_sessionmaker()() as session:
        yield session


def _purge_task_queue() -> None:
    """Drop what the API tests queued (nobody consumes it here), so no later worker runs it."""
    import redis

    from worker import app
    from worker.config import DEFAULT_QUEUE
    from worker.metrics import redis_queue_keys

    client = redis.Redis.from_url(app.conf.broker_url)
    client.delete(*redis_queue_keys(DEFAULT_QUEUE))
    client.close()


@pytest.fixture
def client(pg_url: str, redis_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client
    _purge_task_queue()


Published = list[tuple[str, list[Any]]]


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> Published:
    """The tasks the API published (really, to the test Redis), as (task name, args)."""
    import api.enqueue

    published: Published = []
    publish = api.enqueue.enqueue

    def spy(task_name: str, args: list[Any]) -> str:
        task_id = publish(task_name, args)
        published.append((task_name, args))
        return task_id

    monkeypatch.setattr(api.enqueue, "enqueue", spy)
    return published


@dataclass
class Tenant:
    """An organization with its own key; ``headers`` authenticate as it and scope to it."""

    id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Organization-Id": str(self.id)}


def make_organization(session: Session, name: str = "Acme") -> uuid.UUID:
    organization = Organization(id=uuid.uuid4(), name=name)
    session.add(organization)
    session.commit()
    return organization.id


def make_tenant(session: Session, name: str = "Acme") -> Tenant:
    from api.keys import create_api_key

    organization_id = make_organization(session, name)
    created = create_api_key(session, organization_id, name=f"{name} key")
    session.commit()
    return Tenant(organization_id, created.key)


@pytest.fixture
def tenant(db: Session) -> Tenant:
    return make_tenant(db, "Org A")


@pytest.fixture
def other_tenant(db: Session) -> Tenant:
    return make_tenant(db, "Org B")


@pytest.fixture
def platform_key(db: Session) -> str:
    from api.keys import create_api_key

    created = create_api_key(db, None, name="platform")
    db.commit()
    return created.key


def make_connection(
    session: Session, organization_id: uuid.UUID, *, status: str = "connected", platform: str = "tryton", **values: Any
) -> AccountingConnection:
    connection = AccountingConnection(
        id=uuid.uuid4(),
        organization_id=organization_id,
        platform=platform,
        status=status,
        connected_at=utcnow() if status == "connected" else None,
        **{
            "settings": {"url": "http://127.0.0.1:1", "database": "x"},
            "credentials": {"username": "u", "password": "very-secret-password"},
            "errors": [],
            "cursors": {},
            **values,
        },
    )
    session.add(connection)
    session.commit()
    return connection


def make_records(
    session: Session,
    connection: AccountingConnection,
    count: int,
    *,
    object_type: str = "bill",
    start: datetime | None = None,
    step: timedelta = timedelta(minutes=1),
    **values: Any,
) -> list[AccountingSyncedRecord]:
    start = start or utcnow() - timedelta(days=1)
    records = [
        AccountingSyncedRecord(
            id=uuid.uuid4(),
            organization_id=connection.organization_id,
            connection_id=connection.id,
            books_id=connection.books,
            object_type=object_type,
            platform=connection.platform,
            created_at=start + step * index,
            updated_at=start + step * index,
            **{"sync_status": "done", "object_id": uuid.uuid4(), "platform_object_id": f"P-{index}", **values},
        )
        for index in range(count)
    ]
    session.add_all(records)
    session.commit()
    return records


def make_tax_rate(
    session: Session,
    organization_id: uuid.UUID,
    name: str,
    *,
    connection: AccountingConnection | None = None,
    rate: int = 2000,
) -> AccountingTaxRate:
    tax_rate = AccountingTaxRate(
        id=uuid.uuid4(),
        organization_id=organization_id,
        connection_id=connection.id if connection else None,
        books_id=connection.books if connection else None,
        is_external=connection is not None,
        platform_id=f"T-{name}" if connection else None,
        name=name,
        code=name[:8],
        effective_tax_rate=rate,
        components=[{"name": name, "rate": rate, "is_compound": False}],
    )
    session.add(tax_rate)
    session.commit()
    return tax_rate


def make_ledger_account(session: Session, connection: AccountingConnection, name: str) -> LedgerAccount:
    account = LedgerAccount(
        id=uuid.uuid4(),
        organization_id=connection.organization_id,
        connection_id=connection.id,
        books_id=connection.books,
        platform_id=f"L-{name}",
        name=name,
        nominal_code="610",
        type="expense",
        is_bank_account=False,
    )
    session.add(account)
    session.commit()
    return account


def make_accounting_document(
    session: Session, connection: AccountingConnection, kind: str, platform_id: str, **values: Any
) -> AccountingDocument:
    defaults: dict[str, Any] = {
        "document_number": f"N-{platform_id}",
        "counterpart_platform_id": "C-1",
        "counterpart_name": "Supplier Ltd",
        "currency": "EUR",
        "subtotal": 1000,
        "tax_amount": 200,
        "total_amount": 1200,
        "amount_due": 1200,
        "status": "open",
        "lines": [
            {
                "description": "Consulting",
                "quantity": "2",
                "unit_price": 500,
                "total": 1000,
                "tax_rate_value": 2000,
                "tax_rate_platform_id": "7",
                "ledger_account_id": "L-1",
            }
        ],
    }
    document = AccountingDocument(
        id=uuid.uuid4(),
        organization_id=connection.organization_id,
        connection_id=connection.id,
        kind=kind,
        platform_id=platform_id,
        **{**defaults, **values},
    )
    session.add(document)
    session.commit()
    return document


def counterpart_body(**changes: Any) -> dict[str, Any]:
    return {"name": "Supplier Ltd", "email": "ap@supplier.example", "is_vendor": True, "is_customer": True, **changes}


def document_body(counterpart_id: uuid.UUID | str, status: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "counterpart_id": str(counterpart_id),
        "document_number": "INV-1",
        "currency": "EUR",
        "status": status,
        "issue_date": "2026-01-10",
        "due_date": "2026-02-10",
        "subtotal": 2550,
        "tax_amount": 510,
        "total_amount": 3060,
        "line_items": [
            {"description": "Widgets", "quantity": 3, "unit_price": 750, "tax_rate_value": 2000},
            {"description": "Shipping", "quantity": "0.5", "unit_price": 599, "total": 300, "tax_rate_value": 2000},
        ],
    }
    body.update(changes)
    return body


