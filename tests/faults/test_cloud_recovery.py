"""Workers killed mid-push against a cloud accounting system: every bill ends ``done`` once, none created twice.

The local Xero (and the local QuickBooks) answers pushes slowly (its latency switch), so the ``kill -9``
lands while a batch is in flight: the accounting system has the request and does the work, the dead worker
never records the answer. Nothing tells the next sync what became of that batch but the accounting system
itself: its records were marked in flight, so the next push looks their idempotency keys up (Xero: the
``Url`` each invoice carries; QuickBooks: the marker each bill carries, narrowed by ``DocNumber``) and takes
what the dead worker created instead of creating it again. The lease of the dead sync lapses and the next beat tick
starts the sync again (``tasks.engine.schedule.recover_dead_syncs``): no person, no restart of beat.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest_quickbooks import QuickBooksRaw, quickbooks_settings
from tests.conftest_xero import XeroRaw, xero_settings
from tests.faults.conftest import booksync_stack, done_count, seed_cloud_bills
from tests.faults.tally import TALLY
from tests.faults.test_worker_recovery import _client, _kill_group
from tests.support.processes import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BILLS = 120  # Xero: batches of 50, 50, 20; QuickBooks: 30 each (the kill lands in the second)
#: Long enough that the kill, polled for every 0.1 s once the first batch is recorded, lands in the second.
PUSH_SECONDS = 3.0


def _kill_mid_push(tmp_path: Path, pg_url: str, settings: dict[str, str], connection_id: uuid.UUID,
                   slow_calls: Callable[[], int], held: Callable[[], int], what: str) -> tuple[float, int, int]:
    """Sync; once the accounting system has the second slow push in hand (``slow_calls``: how many it took),
    kill every worker process; wait until it holds more bills than were recorded (the batch in flight landed
    unrecorded); start a new worker and wait for every bill ``done``. Returns the recovery time, the bills
    done at the kill and the bills the accounting system held when the new worker started."""
    with booksync_stack(tmp_path, pg_url, **settings) as stack:
        worker = stack.worker(f"{what}-first")
        stack.beat()
        client = _client(stack.redis.url)
        client.send_task("tasks.sync_connection", args=[str(connection_id), "manual"])
        wait_for(lambda: slow_calls() >= 2, timeout=120, interval=0.05, what=f"the second push in {what}'s hands")
        _kill_group(worker)
        killed_at = time.monotonic()
        pushed_before = done_count(connection_id)
        assert pushed_before < BILLS, "the sync finished before the kill; nothing was tested"
        landed = wait_for(lambda: (n := held()) > pushed_before and n, timeout=PUSH_SECONDS * 3,
                          what=f"the batch in flight at the kill to land in {what}")

        stack.worker(f"{what}-second")
        wait_for(lambda: done_count(connection_id) == BILLS, timeout=120, interval=0.5,
                 what=f"all {BILLS} bills done after the kill")
        return time.monotonic() - killed_at, pushed_before, landed


def test_a_worker_killed_mid_push_to_xero_is_recovered_with_nothing_lost_or_doubled(
    pg_url: str, xero_sandbox: Any, xero_raw: XeroRaw, tmp_path: Path
) -> None:
    tenant = xero_raw.new_tenant(f"Fault Kill {uuid.uuid4().hex[:6]}")
    connection_id, prefix = seed_cloud_bills("xero", f"xero:{tenant.tenant_id}", tenant.settings,
                                             tenant.credentials.reveal(), BILLS)

    def held() -> int:
        return len([i for i in xero_raw.state(tenant.tenant_id, "invoices")
                    if str(i.get("InvoiceNumber", "")).startswith(prefix)])

    fired = xero_raw.stats()["faults_fired"].get("latency", 0)

    def slow_calls() -> int:
        return int(xero_raw.stats()["faults_fired"].get("latency", 0)) - fired

    xero_raw.fault(kind="latency", seconds=PUSH_SECONDS, method="POST", path="/Invoices")
    try:
        recovery, pushed_before, landed = _kill_mid_push(tmp_path, pg_url, xero_settings(xero_sandbox),
                                                         connection_id, slow_calls, held, "xero")
    finally:
        xero_raw.clear_faults()
    invoices = [i for i in xero_raw.state(tenant.tenant_id, "invoices")
                if str(i.get("InvoiceNumber", "")).startswith(prefix)]
    numbers = [i["InvoiceNumber"] for i in invoices]
    TALLY.books(expected=BILLS, found=len(numbers))
    TALLY.fault(sorted(numbers) == [f"{prefix}{n:04d}" for n in range(BILLS)])
    assert sorted(numbers) == [f"{prefix}{n:04d}" for n in range(BILLS)], "a bill was created twice (or lost)"
    assert {i["Type"] for i in invoices} == {"ACCPAY"}
    vendors = [c for c in xero_raw.state(tenant.tenant_id, "contacts") if c["Name"] == f"Fault Vendor {prefix}"]
    assert len(vendors) == 1
    print(f"\nXero: recovery after kill -9 mid-push: {recovery:.0f} s ({pushed_before} of {BILLS} done at the kill, "
          f"{landed} in Xero before the new worker started)")


def test_a_worker_killed_mid_push_to_quickbooks_is_recovered_with_nothing_lost_or_doubled(
    pg_url: str, quickbooks_sandbox: Any, quickbooks_raw: QuickBooksRaw, tmp_path: Path
) -> None:
    company = quickbooks_raw.new_company(f"Fault Kill {uuid.uuid4().hex[:6]}", country="GB", currency="USD")
    connection_id, prefix = seed_cloud_bills("quickbooks_online", f"quickbooks:{company.realm_id}", company.settings,
                                             company.credentials.reveal(), BILLS)

    def held() -> int:
        return len([b for b in quickbooks_raw.state(company.realm_id, "Bill")
                    if str(b.get("DocNumber", "")).startswith(prefix)])

    switch = quickbooks_raw.fault(kind="latency", seconds_each=PUSH_SECONDS, seconds=600, method="POST",
                                  path_contains="/batch", realm_id=company.realm_id)

    def slow_calls() -> int:
        faults = quickbooks_raw.http.get("/_sandbox/faults").raise_for_status().json()["faults"]
        return int(next(f["fired"] for f in faults if f["id"] == switch["id"]))

    try:
        recovery, pushed_before, landed = _kill_mid_push(tmp_path, pg_url, quickbooks_settings(quickbooks_sandbox),
                                                         connection_id, slow_calls, held, "quickbooks")
    finally:
        quickbooks_raw.clear_faults()
    bills = [b for b in quickbooks_raw.state(company.realm_id, "Bill") if str(b.get("DocNumber", "")).startswith(prefix)]
    numbers = [b["DocNumber"] for b in bills]
    TALLY.books(expected=BILLS, found=len(numbers))
    TALLY.fault(sorted(numbers) == [f"{prefix}{n:04d}" for n in range(BILLS)])
    assert sorted(numbers) == [f"{prefix}{n:04d}" for n in range(BILLS)], "a bill was created twice (or lost)"
    vendors = [v for v in quickbooks_raw.state(company.realm_id, "Vendor")
               if v.get("DisplayName") == f"Fault Vendor {prefix}"]
    assert len(vendors) == 1
    print(f"\nQuickBooks: recovery after kill -9 mid-push: {recovery:.0f} s ({pushed_before} of {BILLS} done at the "
          f"kill, {landed} in QuickBooks before the new worker started)")
