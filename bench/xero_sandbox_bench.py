"""The local Xero under a sync-sized load: 20 tenants × 2,000 invoices pushed, then read back in pages.

Starts a local Xero with ``--tenants`` tenants, connects an app to all of them, and from one thread per
tenant pushes ``--invoices`` bills per tenant with ``PUT /Invoices?summarizeErrors=false`` in batches of
``--batch`` (each with an Idempotency-Key), then reads them all back with ``page``/``pageSize=1000``. Each
thread keeps to Xero's limits the way a client should: it waits out ``Retry-After`` on a 429. Prints the
wall time, calls per second, the median and p95 of each kind of call, and the sandbox's own counters:
every request and answer validated against Xero's definition, none rejected or invalid, and the peaks
per window (which must stay within Xero's limits).

    python -m bench.xero_sandbox_bench [--tenants 20] [--invoices 2000] [--batch 50] [--time-scale 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from sandboxes.xero.sandbox import authorize, start_sandbox, stop_sandbox


def _bill(contact_id: str, number: int) -> dict[str, Any]:
    return {"Type": "ACCPAY", "Contact": {"ContactID": contact_id}, "Date": "2026-01-15", "DueDate": "2026-02-14",
            "InvoiceNumber": f"B-{number:05d}", "Reference": f"bench {number}", "Status": "AUTHORISED",
            "LineItems": [{"Description": "Consulting", "Quantity": 1 + number % 7, "UnitAmount": 99.95,
                           "AccountCode": "412", "TaxType": "INPUT2"},
                          {"Description": "Travel", "Quantity": 1, "UnitAmount": 23.4, "AccountCode": "493",
                           "TaxType": "INPUT2"}]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.xero_sandbox_bench")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="xero-bench-")) / "xero"
    started = time.perf_counter()
    info = start_sandbox(directory, tenants=args.tenants, time_scale=args.time_scale)
    print(f"started with {args.tenants} tenants in {time.perf_counter() - started:.1f} s")
    timings: dict[str, list[float]] = {"put": [], "get": []}
    lock = threading.Lock()
    waited = [0.0]
    try:
        tokens = authorize(info, tenant_ids=info.tenant_ids)

        def call(client: httpx.Client, kind: str, method: str, path: str, tenant: str, **kw: Any) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens['access_token']}", "xero-tenant-id": tenant,
                       **kw.pop("headers", {})}
            while True:
                begun = time.perf_counter()
                answer = client.request(method, f"/api.xro/2.0{path}", headers=headers, **kw)
                if answer.status_code != 429:
                    with lock:
                        timings[kind].append(time.perf_counter() - begun)
                    return answer.raise_for_status()
                pause = float(answer.headers.get("Retry-After", "1"))
                with lock:
                    waited[0] += pause
                time.sleep(pause)

        def push_and_read(tenant: str) -> int:
            with httpx.Client(base_url=info.url, timeout=120) as client:
                contact = info.state(tenant, "contacts")[0]["ContactID"]
                for start in range(0, args.invoices, args.batch):
                    bills = [_bill(contact, n) for n in range(start, min(args.invoices, start + args.batch))]
                    answer = call(client, "put", "PUT", "/Invoices", tenant, params={"summarizeErrors": "false"},
                                  json={"Invoices": bills}, headers={"Idempotency-Key": str(uuid.uuid4())})
                    assert all(i["StatusAttributeString"] == "OK" for i in answer.json()["Invoices"])
                read, page = 0, 1
                while True:
                    body = call(client, "get", "GET", "/Invoices", tenant,
                                params={"page": page, "pageSize": 1000, "where": 'Type=="ACCPAY"'}).json()
                    read += len(body["Invoices"])
                    if page >= body["pagination"]["pageCount"]:
                        return read
                    page += 1

        began = time.perf_counter()
        with ThreadPoolExecutor(args.tenants) as pool:
            counts = list(pool.map(push_and_read, info.tenant_ids))
        elapsed = time.perf_counter() - began
        stats = info.stats()
    finally:
        stop_sandbox(directory)
    calls = len(timings["put"]) + len(timings["get"])
    print(f"pushed {args.tenants * args.invoices} invoices and read back {sum(counts)} bills (the seeded ones too) "
          f"in {elapsed:.1f} s "
          f"({calls} calls, {calls / elapsed:.1f} calls/s, {args.tenants * args.invoices / elapsed:.0f} invoices/s; "
          f"{waited[0]:.0f} s waited on Retry-After in total)")
    for kind, values in timings.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.95) - 1)]
        print(f"  {kind}: median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
              f"over {len(ordered)} calls")
    print(f"  all {stats['requests_validated']} requests validated against Xero's definition "
          f"({stats['requests_rejected']} rejected); {stats['responses_validated']} answers validated "
          f"({stats['responses_invalid']} invalid)")
    print(f"  peaks: {max(stats['peak_per_minute_window'].values())} calls in a minute window for one tenant "
          f"(limit {stats['limits']['per_minute']}), max {max(stats['max_in_flight'].values())} in flight "
          f"(limit {stats['limits']['concurrent']}), 429s: {stats['rate_limited'] or 'none'}")
    return 0 if stats["requests_rejected"] == 0 and stats["responses_invalid"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
