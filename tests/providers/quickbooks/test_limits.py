"""Several worker processes pushing and pulling on one realm never pass Intuit's limits: the local QuickBooks'
own counts (calls in any window, calls in flight, batch calls, 429s answered) are the oracle.

The local QuickBooks of this module enforces small limits on short windows (``time_scale``) so the workers
saturate them in seconds; the workers' shared limiter (on the test Redis) has the same counts and windows scaled
the same way, one second longer at full scale as booksync's policies are.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from providers.errors import RateLimited
from providers.quickbooks.limits import QUICKBOOKS, QUICKBOOKS_BATCH
from providers.ratelimit import LimitPolicy, SharedRateLimiter, Window, shared_store
from providers.types import DocumentKind, LineItem, OutgoingDocument, PushRequest
from sandboxes.quickbooks.sandbox import SandboxInfo, start_sandbox, stop_sandbox
from tests.conftest_quickbooks import QuickBooksRaw

TIME_SCALE = 10.0
LIMITS = {"per_minute": 40, "in_flight": 3, "batch_per_minute": 12, "batch_per_minute_per_app": 6}
WORKERS, THREADS, SECONDS = 3, 2, 8.0
SPAWN = multiprocessing.get_context("spawn")


def policies() -> tuple[LimitPolicy, LimitPolicy]:
    """booksync's QuickBooks policies with the counts of this module's local QuickBooks."""
    realm = replace(QUICKBOOKS, name=f"qb-test-{uuid.uuid4().hex[:6]}", per_key=(Window(LIMITS["per_minute"], 61),),
                    concurrency=LIMITS["in_flight"], time_scale=TIME_SCALE)
    batch = replace(QUICKBOOKS_BATCH, name=f"{realm.name}-batch", time_scale=TIME_SCALE,
                    per_key=(Window(LIMITS["batch_per_minute"], 61), Window(LIMITS["batch_per_minute_per_app"], 61)))
    return realm, batch


@pytest.fixture(scope="module")
def limited_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    directory: Path = tmp_path_factory.mktemp("quickbooks-limits")
    info = start_sandbox(directory, companies=0, time_scale=TIME_SCALE, limits=LIMITS)
    try:
        yield info
    finally:
        stop_sandbox(directory)


def _work(info: SandboxInfo, realm_id: str, credentials: dict[str, Any], vendor: str, redis_url: str,
          realm_policy: LimitPolicy, batch_policy: LimitPolicy, until: float, results: Any) -> None:
    """One worker process: threads that pull and push in batches until ``until``, waiting out refusals."""
    from config.secrets import Credentials
    from providers.quickbooks import QuickBooksProvider
    from tests.conftest_quickbooks import quickbooks_app

    store = shared_store(redis_url)
    counts = {"calls": 0, "refused": 0, "errors": []}
    lock = threading.Lock()

    def thread() -> None:
        realm = SharedRateLimiter(realm_policy, store, max_wait=1.0)
        batch = SharedRateLimiter(batch_policy, store, max_wait=1.0)
        provider = QuickBooksProvider({"realm_id": realm_id}, Credentials(credentials), app=quickbooks_app(info),
                                      api_url=info.url, rate_limiter=realm, batch_rate_limiter=batch)
        turn = 0
        while time.time() < until:
            turn += 1
            try:
                if turn % 2:
                    list(provider.iter_document_ids(DocumentKind.PAYABLE))
                else:
                    requests = [PushRequest(OutgoingDocument(
                        kind=DocumentKind.PAYABLE, id=str(uuid.uuid4()), counterpart_platform_id=vendor,
                        currency="USD", lines=(LineItem("load", Decimal(1), 100, tax_rate_value=0),)),
                        uuid.uuid4().hex) for _ in range(2)]
                    outcomes = list(provider.push_documents(requests))
                    assert all(o.error is None for o in outcomes), outcomes
                with lock:
                    counts["calls"] += 1
            except RateLimited as exc:
                with lock:
                    counts["refused"] += 1
                time.sleep(min(exc.retry_after or 0.1, max(0.0, until - time.time()), 1.0))
            except Exception as exc:  # noqa: BLE001 - reported to the test
                with lock:
                    counts["errors"].append(repr(exc))
                return
        provider.close()

    threads = [threading.Thread(target=thread) for _ in range(THREADS)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    results.put({"pid": os.getpid(), **counts})


def test_workers_on_one_realm_stay_within_every_limit(limited_sandbox: SandboxInfo, redis_url: str) -> None:
    raw = QuickBooksRaw(limited_sandbox)
    company = raw.new_company("Busy Inc", country="US")
    raw.fault(kind="latency", seconds_each=0.05, seconds=60, realm_id=company.realm_id)  # calls overlap
    realm_policy, batch_policy = policies()
    results = SPAWN.Queue()
    until = time.time() + SECONDS
    workers = [SPAWN.Process(target=_work, args=(limited_sandbox, company.realm_id, company.credentials.reveal(),
                                                  str(company.seeded["vendors"][0]), redis_url, realm_policy,
                                                  batch_policy, until, results))
               for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    try:
        reports = [results.get(timeout=SECONDS + 60) for _ in workers]
    except queue.Empty:
        pytest.fail("a worker did not report in time")
    finally:
        for worker in workers:
            worker.join(timeout=30)
    stats = raw.stats()
    raw.close()
    realm = company.realm_id
    assert all(not r["errors"] for r in reports), reports
    assert stats["throttled_total"] == 0, f"QuickBooks answered 429: {stats['throttled']}"
    assert stats["max_in_flight_attempted"][realm] <= LIMITS["in_flight"]
    assert stats["peak_in_window"][realm] <= LIMITS["per_minute"]
    assert stats["peak_batch_in_window"][realm] <= LIMITS["batch_per_minute_per_app"]
    assert stats["peak_in_window"][realm] >= LIMITS["per_minute"] * 0.75, "the workers did press on the limit"
    assert stats["max_in_flight"][realm] == LIMITS["in_flight"], "and on the calls in flight"
    assert sum(r["refused"] for r in reports) > 0, "some calls were held back rather than sent"
