"""A running booksync (``booksync api`` under uvicorn, a real process) holding a real Tryton sync.

``serve_api`` starts the API on a free loopback port; ``seed_synced`` gives it an organization whose
connection to a Tryton sandbox was made through the API (a real test call), documents handed over
through the API in several currencies (USD, JPY, KWD, EUR), lines on the ledger accounts the API
lists, and three syncs run in this process (pull; push; pull again, so the pushed documents come back).
What it returns names real ids of every kind, for the tests to ask for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import VENV_BIN, running, wait_for

#: (currency, unit price and tax in minor units): what the seeded bills and invoices are in.
DOCUMENTS = (("USD", 12_000, 2_400), ("JPY", 1_000, 200), ("KWD", 1_234, 247), ("EUR", 10_000, 2_000))


@dataclass
class SyncedBooksync:
    base_url: str
    headers: dict[str, str]
    organization_id: uuid.UUID
    connection_id: str
    #: Real ids by the reference's path parameter names.
    ids: dict[str, list[str]] = field(default_factory=dict)


def _free_port() -> int:
    from sandboxes.tryton.sandbox import free_port

    return free_port()


@contextmanager
def serve_api(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """``booksync api`` on 127.0.0.1 and a free port; yields its base URL once ``/healthz`` answers."""
    port = _free_port()
    args = [str(VENV_BIN / "booksync"), "api", "--host", "127.0.0.1", "--port", str(port)]
    with running(args, env, log):
        base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200, timeout=60,
                 interval=0.2, what=f"booksync api on port {port} (log: {log})")
        yield base_url


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def _organization(name: str) -> tuple[uuid.UUID, dict[str, str]]:
    """A new organization and the headers of a key scoped to it."""
    from api.keys import create_api_key
    from models import Organization
    from models.db import get_sessionmaker

    organization_id = uuid.uuid4()
    with get_sessionmaker()() as session:
        session.add(Organization(id=organization_id, name=name))
        session.flush()
        key = create_api_key(session, organization_id, name=name).key
        session.commit()
    return organization_id, {"Authorization": f"Bearer {key}", "X-Organization-Id": str(organization_id)}


def _connect_and_pull(api: httpx.Client, sandbox: Any) -> dict[str, Any]:
    """A connection made through the API (a real test call), then one sync: tax rates, accounts, documents."""
    from models.db import get_sessionmaker
    from tasks.engine.sync import run_sync

    connection: dict[str, Any] = _ok(api.post("/accounting-connections", json={
        "platform": "tryton", "settings": sandbox.settings, "credentials": sandbox.credentials, "backfill": True,
    }))
    run_sync(get_sessionmaker(), uuid.UUID(connection["id"]), "manual")
    return connection


def seed_connection(base_url: str, sandbox: Any) -> dict[str, str]:
    """A new organization connected to ``sandbox`` and pulled once; the headers to act for it."""
    _, headers = _organization("Freshly Connected")
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
        _connect_and_pull(api, sandbox)
    return headers


def seed_synced(base_url: str, sandbox: Any) -> SyncedBooksync:
    """An organization synced with ``sandbox`` (a running Tryton); this process's booksync settings must
    point at the same database and secret key as the server's."""
    from models.db import get_sessionmaker
    from tasks.engine.sync import run_sync

    organization_id, headers = _organization("Conformance Books")
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
        connection = _connect_and_pull(api, sandbox)
        accounts = _ok(api.get("/ledger-accounts"))["data"]
        expense = next(a["id"] for a in accounts if a["type"] == "Expense" and a["status"] == "Active")
        income = next(a["id"] for a in accounts if a["type"] == "Income" and a["status"] == "Active")
        _ok(api.post("/accounting-tax-rates", json={
            "name": "Internal GST+QST", "components": [{"name": "GST", "rate": 500},
                                                       {"name": "QST", "rate": 998, "is_compound": True}]}))
        vendor, customer = uuid.uuid4(), uuid.uuid4()
        _ok(api.put(f"/counterparts/{vendor}", json={"name": "Initech Supplies", "is_vendor": True}))
        _ok(api.put(f"/counterparts/{customer}", json={"name": "Umbrella Retail", "is_customer": True}))
        today = date.today()
        for index, (currency, price, tax) in enumerate(DOCUMENTS):
            for kind, counterpart, status, account in (("payables", vendor, "waiting_to_be_paid", expense),
                                                       ("receivables", customer, "issued", income)):
                body = {
                    "counterpart_id": str(counterpart), "document_number": f"CONF-{kind[:3]}-{currency}-{index}",
                    "currency": currency, "status": status, "issue_date": today.isoformat(),
                    "due_date": (today + timedelta(days=30)).isoformat(),
                    "subtotal": price, "tax_amount": tax, "total_amount": price + tax,
                    "line_items": [{"description": f"Line in {currency}", "quantity": 1, "unit_price": price,
                                    "tax_rate_value": 2000, "ledger_account_id": account}],
                }
                _ok(api.put(f"/{kind}/{uuid.uuid4()}", json=body))
        run_sync(get_sessionmaker(), uuid.UUID(connection["id"]), "manual")  # pushes them
        run_sync(get_sessionmaker(), uuid.UUID(connection["id"]), "manual")  # and pulls them back
        ids: dict[str, list[str]] = {
            "connection_id": [connection["id"]],
            "payable_id": [item["id"] for item in _ok(api.get("/accounting/payables"))["data"]],
            "invoice_id": [item["id"] for item in _ok(api.get("/accounting/receivables"))["data"]],
            "tax_rate_id": [item["id"] for item in _ok(api.get("/accounting-tax-rates"))["data"]],
            "ledger_account_id": [item["id"] for item in accounts],
            "synced_record_id": [
                item["id"] for object_type in ("bill", "receivable", "vendor", "customer")
                for item in _ok(api.get("/accounting-synced-records", params={"object_type": object_type}))["data"]
            ],
        }
    return SyncedBooksync(base_url, headers, organization_id, connection["id"], ids)
