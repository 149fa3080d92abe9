"""Push invoices into the QuickBooks sandbox from many realms at once, inside Intuit's limits, and audit it.

    python -m bench.quickbooks_sandbox_bench [--realms 20] [--per-realm 2000] [--mode single|batch] [--time-scale 10]

Each realm gets its own client: at most 8 calls in flight and a sliding window a little under the limit
(500 calls, or 40 batches, per window of 60 s / time scale). At the end the sandbox's own record must show
no 429, no invalid answer, and every invoice there (a COUNT(*) query per realm). Prints invoices a second
and the sandbox's cost per invoice (every request and answer validated against Intuit's XSD).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx

from sandboxes.quickbooks.consent import connect
from sandboxes.quickbooks.sandbox import SandboxInfo, start_sandbox, stop_sandbox

IN_FLIGHT = 8


class Window:
    """A client-side sliding window: never more than ``limit`` sends in any ``seconds``."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.sent: deque[float] = deque()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                while self.sent and self.sent[0] <= now - self.seconds:
                    self.sent.popleft()
                if len(self.sent) < self.limit:
                    self.sent.append(now)
                    return
                await asyncio.sleep(self.sent[0] + self.seconds - now + 0.01)


def invoice(customer: str, n: int) -> dict[str, Any]:
    return {"CustomerRef": {"value": customer}, "DocNumber": f"B-{n:06d}", "TxnDate": "2026-06-01",
            "Line": [{"Amount": 10 + n % 90, "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 10 + n % 90,
                                              "TaxCodeRef": {"value": "TAX" if n % 2 else "NON"}}}]}


async def push_realm(info: SandboxInfo, realm: str, count: int, mode: str, window_seconds: float) -> int:
    tokens = connect(info, realm)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
    calls = Window(490, window_seconds)
    batches = Window(39, window_seconds)
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=f"{info.url}/v3/company/{realm}", headers=headers,
                                 params={"minorversion": "75"}, timeout=120) as client:
        customer = (await client.post("/customer", json={"DisplayName": f"Bench Customer {realm}"})).json()["Customer"]["Id"]

        async def send(path: str, body: dict[str, Any], batch: bool) -> None:
            async with gate:
                await calls.acquire()
                if batch:
                    await batches.acquire()
                response = await client.post(path, json=body)
                if response.status_code != 200:
                    raise RuntimeError(f"{realm}: {response.status_code} {response.text[:300]}")
                if batch and any("Fault" in item for item in response.json()["BatchItemResponse"]):
                    raise RuntimeError(f"{realm}: a batch item failed: {response.text[:300]}")

        if mode == "single":
            await asyncio.gather(*(send("/invoice", invoice(customer, n), False) for n in range(count)))
        else:
            chunks = [list(range(start, min(start + 30, count))) for start in range(0, count, 30)]
            await asyncio.gather(*(send("/batch", {"BatchItemRequest": [
                {"bId": str(n), "operation": "create", "Invoice": invoice(customer, n)} for n in chunk]}, True)
                for chunk in chunks))
        counted = (await client.get("/query", params={"query": "SELECT COUNT(*) FROM Invoice WHERE DocNumber LIKE 'B-%'"})).json()
    return int(counted["QueryResponse"]["totalCount"])


async def run(info: SandboxInfo, per_realm: int, mode: str) -> float:
    window = 60.0 / info.time_scale
    started = time.monotonic()
    counts = await asyncio.gather(*(push_realm(info, realm, per_realm, mode, window) for realm in info.realm_ids))
    elapsed = time.monotonic() - started
    assert all(count == per_realm for count in counts), counts
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quickbooks_sandbox_bench")
    parser.add_argument("--realms", type=int, default=20)
    parser.add_argument("--per-realm", type=int, default=2000)
    parser.add_argument("--mode", choices=("single", "batch"), default="batch")
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--validation", choices=("xmlschema", "fast", "both"), default="fast")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="qbo-bench-"))
    started = time.monotonic()
    info = start_sandbox(directory, companies=args.realms, time_scale=args.time_scale, validation=args.validation,
                         timeout=60)
    print(f"sandbox with {args.realms} companies ready in {time.monotonic() - started:.1f} s")
    try:
        elapsed = asyncio.run(run(info, args.per_realm, args.mode))
        stats = httpx.get(f"{info.url}/_sandbox/stats", timeout=30).json()
        total = args.realms * args.per_realm
        print(f"{total} invoices ({args.mode}) in {elapsed:.1f} s: {total / elapsed:.0f} invoices/s, "
              f"{elapsed / total * 1000:.2f} ms each")
        print(f"429s: {stats['throttled_total']}; invalid answers: {stats['responses_invalid']}; "
              f"requests validated: {stats['requests_validated']}; answers validated: {stats['responses_validated']}; "
              f"peak calls in a window: {max(stats['peak_in_window'].values())}; "
              f"peak batches in a window: {max(stats['peak_batch_in_window'].values())}; "
              f"max in flight: {max(stats['max_in_flight'].values())}")
        assert stats["throttled_total"] == 0 and stats["responses_invalid"] == 0
    finally:
        stop_sandbox(directory)


if __name__ == "__main__":
    main()
