"""Webhooks: events delivered per second by one worker process, and how long after a synced record's change
its event reaches the receiver while a sync pushes 1,000 documents.

A real Celery worker (prefork, one process, the ``booksync.webhooks`` queue) delivers to a receiver on
127.0.0.1 that answers 200 at once; PostgreSQL and Redis are the real ones. The sync runs in this process
against the in-memory books, so its pushes cost nothing and the events come as fast as booksync can commit
them — the hardest case for the worker keeping up.

- throughput: N events written beforehand (different objects, so ordering never holds one back), then
  handed to the worker at once; timed from the hand-over to the receiver having them all.
- delay: from each event's commit (its ``created_at``) to its arrival, median and p99, for a sync pushing
  1,000 bills; the same sync with no subscription shows what writing the events costs the sync.

    python -m bench.webhooks_bench [--events 2000] [--documents 1000] [--concurrency 1] [--quick]

The floor for throughput is one process POSTing the same number of bodies to the receiver back to back.

BOOKSYNC_BENCH_REDIS_URL picks the Redis database (flushed), BOOKSYNC_BENCH_POSTGRES_URL the server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bench.report import Figure, emit
from bench.support import scratch_database

REDIS_URL = os.environ.get("BOOKSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "BOOKSYNC_WEBHOOK_ALLOWED_ADDRESSES": "loopback",
    "BOOKSYNC_WEBHOOK_REQUIRE_HTTPS": "false",
}


class Receiver:
    """Answers every POST with 200 at once; notes when each event arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, tuple[float, str]] = {}  # event id -> (arrival time, event created_at)
        self.count = 0
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                event = json.loads(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.lock:
                    receiver.arrivals.setdefault(event["id"], (arrived, event["created_at"]))
                    receiver.count += 1
                    receiver.lock.notify_all()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, distinct: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.arrivals) < distinct:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.arrivals)} of {distinct} events arrived in {timeout:.0f}s")
                self.lock.wait(left)

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.count = 0


@contextmanager
def worker(concurrency: int, home: Path, prefetch: int) -> Iterator[None]:
    log = home / "worker.log"
    args = [str(Path(sys.executable).parent / "celery"), "-A", "worker", "worker", "-Q", "booksync.webhooks",
            "-c", str(concurrency), "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip",
            "--loglevel", "INFO", "--prefetch-multiplier", str(prefetch)]
    env = {**{k: v for k, v in os.environ.items() if k.startswith("BOOKSYNC_") or k in ("PATH", "HOME")},
           "BOOKSYNC_LOG_FORMAT": "json", "BOOKSYNC_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the worker did not start; see {log}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _organization_and_subscription(url: str, *types: str) -> tuple[uuid.UUID, uuid.UUID]:
    from models import Organization, session_scope
    from webhooks.subscriptions import create_subscription

    with session_scope() as session:
        organization = Organization(id=uuid.uuid4(), name="Bench")
        session.add(organization)
        session.flush()
        created = create_subscription(session, organization.id, url, list(types))
        return organization.id, created.subscription.id


def throughput(receiver: Receiver, events: int) -> float:
    """Events per second from hand-over to the last arrival."""
    from models import utcnow
    from models.db import get_sessionmaker
    from tasks.publish import publish_many
    from tasks.webhooks import deliver_webhook
    from webhooks.events import Draft, EventType
    from webhooks.outbox import write_events

    organization_id, _ = _organization_and_subscription(receiver.url, EventType.SYNCED_RECORD_DONE.value)
    record = {"id": "", "object_type": "bill", "sync_status": "done", "platform": "xero", "errors": None,
              "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:01Z", "object_id": "",
              "platform_object_id": "a4b1c2d3-1111-2222-3333-444455556666", "last_pulled_at": "2026-12-01T10:00:01Z"}
    keys: list[tuple[uuid.UUID, uuid.UUID]] = []
    with get_sessionmaker()() as session:
        drafts = [
            Draft(EventType.SYNCED_RECORD_DONE, organization_id, f"accounting_synced_record:{uuid.uuid4()}",
                  {**record, "id": str(uuid.uuid4()), "object_id": str(uuid.uuid4())})
            for _ in range(events)
        ]
        written = write_events(session, drafts, utcnow())
        session.commit()
        keys = [(item.event_id, subscription) for item in written for subscription in item.deliveries]
    receiver.reset()
    started = time.perf_counter()
    publish_many(deliver_webhook, ([str(event_id), str(subscription_id)] for event_id, subscription_id in keys))
    receiver.wait(events, timeout=600)
    return events / (time.perf_counter() - started)


def raw_post_rate(receiver: Receiver, events: int) -> float:
    """The floor: one process POSTing the same number of event bodies to the receiver back to back."""
    import httpx

    body = json.dumps({"id": "", "created_at": "2026-12-01T10:00:00Z", "type": "accounting_synced_record.done",
                       "data": {"padding": "x" * 400}})
    receiver.reset()
    started = time.perf_counter()
    with httpx.Client() as client:
        for index in range(events):
            client.post(receiver.url, content=body.replace('"id": ""', f'"id": "raw-{index}"'),
                        headers={"Content-Type": "application/json"}).raise_for_status()
    receiver.wait(events, timeout=600)
    rate = events / (time.perf_counter() - started)
    receiver.reset()
    return rate


def lone_delays(receiver: Receiver, changes: int) -> tuple[float, float]:
    """Median and p99 delay (ms) of one change at a time, the worker otherwise idle: the kick's latency."""
    from models import AccountingConnection, AccountingSyncedRecord, session_scope
    from webhooks import emit

    organization_id, _ = _organization_and_subscription(receiver.url, "accounting_synced_record.done")
    with session_scope() as session:
        connection = AccountingConnection(organization_id=organization_id, platform="memory", status="connected",
                                          settings={}, errors=[], cursors={})
        session.add(connection)
        session.flush()
        connection_id = connection.id
    delays = []
    for _ in range(changes):
        receiver.reset()
        with session_scope() as session:
            record = AccountingSyncedRecord(organization_id=organization_id, connection_id=connection_id,
                                            books_id="bench", object_type="bill", object_id=uuid.uuid4(),
                                            platform="memory", sync_status="pending")
            session.add(record)
            emit(record, session)
            record.sync_status = "done"
        receiver.wait(1, timeout=30)
        [(arrived, created)] = receiver.arrivals.values()
        delays.append(arrived - datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    delays.sort()
    return statistics.median(delays) * 1000, delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000


def _sync_setup(documents: int, books: str) -> uuid.UUID:
    from models import (
        AccountingConnection,
        Counterpart,
        Organization,
        Payable,
        PayableLineItem,
        session_scope,
    )
    from sandboxes.memory import PASSWORD

    now = datetime.now(UTC)
    with session_scope() as session:
        organization = Organization(id=uuid.uuid4(), name=f"Bench {books}")
        session.add(organization)
        session.flush()
        vendor = Counterpart(organization_id=organization.id, name="Vandelay Industries", is_vendor=True,
                             is_customer=False)
        session.add(vendor)
        session.flush()
        for index in range(documents):
            session.add(Payable(
                organization_id=organization.id, counterpart_id=vendor.id, document_number=f"B-{index:05d}",
                currency="USD", subtotal=10_000, tax_amount=2_000, total_amount=12_000, status="waiting_to_be_paid",
                issue_date=date.today(), due_date=date.today() + timedelta(days=30), eligible_at=now,
                lines=[PayableLineItem(description="Services", quantity=Decimal(1), unit_price=10_000, total=10_000,
                                       tax_rate_value=2000)],
            ))
        connection = AccountingConnection(
            organization_id=organization.id, platform="memory", status="connected",
            settings={"books": books, "max_batch": 50}, credentials={"password": PASSWORD}, books_id=f"memory:{books}",
            backfill=True, connected_at=now, next_sync_at=now + timedelta(hours=1),
        )
        session.add(connection)
        session.flush()
        return connection.id


def sync_delays(receiver: Receiver, documents: int) -> dict[str, float]:
    """A sync pushing ``documents`` bills with a subscription to their events, and one without."""
    from models import AccountingConnection, session_scope
    from models.db import get_sessionmaker
    from tasks.engine import sync

    quiet = _sync_setup(documents, f"quiet-{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    summary = sync.run_sync(get_sessionmaker(), quiet, "manual")
    without = time.perf_counter() - started
    assert summary.pushed["bill"] == documents, summary

    connection_id = _sync_setup(documents, f"loud-{uuid.uuid4().hex[:6]}")
    with session_scope() as session:
        organization_id = session.get(AccountingConnection, connection_id).organization_id  # type: ignore[union-attr]
        from webhooks.subscriptions import create_subscription

        create_subscription(session, organization_id, receiver.url,
                            ["accounting_synced_record.done", "accounting_sync.finished"])
    receiver.reset()
    started = time.perf_counter()
    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")
    with_events = time.perf_counter() - started
    expected = documents + 2  # the bills, their vendor, the summary
    receiver.wait(expected, timeout=600)
    all_in = time.perf_counter() - started
    delays = sorted(arrived - datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
                    for arrived, created in receiver.arrivals.values())
    return {
        "sync_seconds_without_subscription": without,
        "sync_seconds_with_subscription": with_events,
        "events": float(len(delays)),
        "delay_median_ms": statistics.median(delays) * 1000,
        "delay_p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000,
        "delay_max_ms": delays[-1] * 1000,
        "last_event_after_sync_start_seconds": all_in,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events for the throughput run")
    parser.add_argument("--documents", type=int, default=1000, help="bills the sync pushes")
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes")
    parser.add_argument("--prefetch", type=int, default=1,
                        help="the worker's --prefetch-multiplier (1, as booksync's config; a webhooks-only worker may take more)")
    parser.add_argument("--quick", action="store_true", help="500 events, a sync of 300 documents")
    args = parser.parse_args()
    if args.quick:
        args.events, args.documents = 500, 300

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    home = Path(tempfile.mkdtemp(prefix="booksync-webhooks-bench-"))
    os.environ.update({"BOOKSYNC_BROKER_URL": REDIS_URL, "BOOKSYNC_HOME": str(home), **SETTINGS,
                       "BOOKSYNC_SECRET_KEY": Fernet.generate_key().decode(), "BOOKSYNC_LOG_LEVEL": "WARNING"})
    import sandboxes.memory  # noqa: F401  (registers the memory platform)
    from config.logging import configure_logging

    configure_logging("json", "WARNING", force=True)
    receiver = Receiver()
    with scratch_database("webhooks_bench"), worker(args.concurrency, home, args.prefetch):
        rate = throughput(receiver, args.events)
        print(f"throughput: {rate:,.0f} events/s delivered by {args.concurrency} worker process(es), prefetch "
              f"multiplier {args.prefetch} ({args.events} events to a local receiver)", flush=True)
        raw_rate = raw_post_rate(receiver, args.events)
        lone = lone_delays(receiver, 100)
        figures = sync_delays(receiver, args.documents)
    print(f"delay of a lone change (worker idle): median {lone[0]:.0f} ms, p99 {lone[1]:.0f} ms")
    print(f"sync of {args.documents} documents: {figures['sync_seconds_without_subscription']:.2f} s without a "
          f"subscription, {figures['sync_seconds_with_subscription']:.2f} s with one "
          f"({figures['events']:.0f} events); all delivered {figures['last_event_after_sync_start_seconds']:.2f} s "
          "after the sync started")
    print(f"delay from a record's change to its delivery: median {figures['delay_median_ms']:.0f} ms, "
          f"p99 {figures['delay_p99_ms']:.0f} ms, max {figures['delay_max_ms']:.0f} ms")
    emit(
        Figure("webhooks", f"events delivered by {args.concurrency} worker process(es)", rate, "events/s",
               baseline=raw_rate, baseline_name="one process POSTing back to back"),
        Figure("webhooks", f"delay change -> delivery during a {args.documents}-document sync, median",
               figures["delay_median_ms"], "ms", better="lower", baseline=lone[0],
               baseline_name="a lone change's median delay"),
        Figure("webhooks", f"delay change -> delivery during a {args.documents}-document sync, p99",
               figures["delay_p99_ms"], "ms", better="lower", baseline=lone[1],
               baseline_name="a lone change's p99 delay"),
        Figure("webhooks", f"{args.documents}-document sync with a subscription",
               figures["sync_seconds_with_subscription"], "s", better="lower",
               baseline=figures["sync_seconds_without_subscription"], baseline_name="the same sync without"),
    )


if __name__ == "__main__":
    main()
