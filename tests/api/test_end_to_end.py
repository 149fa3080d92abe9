"""Through the API to a real worker and a real Tryton: documents PUT, a connection made, a sync asked for,
and the outcome seen in the synced records."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import counterpart_body
from tests.support.processes import celery_worker_args, running, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real prefork worker on Redis and the tests' PostgreSQL database, with the tests' secret key."""
    from tests.support.databases import migrated_engine

    migrated_engine(postgres_url).dispose()
    log = tmp_path_factory.mktemp("api-worker") / "worker.log"
    env = {"BOOKSYNC_DATABASE_URL": postgres_url, "BOOKSYNC_BROKER_URL": redis_url,
           "BOOKSYNC_HOME": os.environ["BOOKSYNC_HOME"]}
    with running(celery_worker_args(concurrency=2, hostname=f"api-{uuid.uuid4().hex[:6]}@%h"), env, log):
        wait_for(lambda: "ready." in log.read_text(), timeout=60, interval=0.2, what="the Celery worker")
        yield log


def test_a_sync_asked_for_through_the_api_is_run_by_a_worker(
    client: TestClient, platform_key: str, tryton_sandbox: Any, worker: Path
) -> None:
    organization_id, vendor_id, bill_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    headers = {"Authorization": f"Bearer {platform_key}", "X-Organization-Id": str(organization_id)}
    organization = client.put(f"/organizations/{organization_id}", headers=headers, json={"name": "Acme Books"})
    assert organization.status_code == 201
    vendor = counterpart_body(is_customer=False)
    assert client.put(f"/counterparts/{vendor_id}", headers=headers, json=vendor).status_code == 201
    bill = {
        "counterpart_id": str(vendor_id),
        "document_number": "BILL-E2E-1",
        "currency": "USD",
        "status": "waiting_to_be_paid",
        "subtotal": 10_000,
        "tax_amount": 2_000,
        "total_amount": 12_000,
        "line_items": [{"description": "Consulting", "quantity": 1, "unit_price": 10_000, "tax_rate_value": 2000}],
    }
    assert client.put(f"/payables/{bill_id}", headers=headers, json=bill).status_code == 201

    connection = client.post(
        "/accounting-connections",
        headers=headers,
        json={
            "platform": "tryton",
            "settings": tryton_sandbox.settings,
            "credentials": tryton_sandbox.credentials,
            "backfill": True,
        },
    )
    assert connection.status_code == 201, connection.text
    connection_id = connection.json()["id"]
    assert client.post(f"/accounting-connections/{connection_id}/sync", headers=headers).status_code == 202

    def pushed_bill() -> dict[str, Any] | None:
        records = client.get(f"/accounting-synced-records?object_type=bill&object_id={bill_id}", headers=headers)
        data = records.json()["data"]
        return data[0] if data and data[0]["sync_status"] != "pending" else None

    record = wait_for(pushed_bill, timeout=120, interval=0.5, what=f"the bill's synced record (worker log: {worker})")
    assert record["sync_status"] == "done", record
    assert "platform" not in record and record["platform_object_id"]  # not in the reference's closed enum
    vendor = client.get(f"/accounting-synced-records?object_type=vendor&object_id={vendor_id}", headers=headers)
    assert vendor.json()["data"][0]["sync_status"] == "done"
    # the bill's outcome is committed as soon as it is pushed; the sync's last_pull when the whole sync ends
    wait_for(lambda: client.get(f"/accounting-connections/{connection_id}", headers=headers).json().get("last_pull"),
             timeout=60, interval=0.2, what="the connection's last_pull after the sync")
