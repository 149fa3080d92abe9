"""API write latency while a sync pushes through a slow provider, against the same writes with no sync.

The push holds no database transaction while it waits on the provider, so an API write waits at most
for one short commit of the engine's. Measured on both databases: the API runs under uvicorn in its
own process; intake writes (``PUT /receivables/{id}``, a new invoice each) go to it one after another
from this process, first with nothing else running (the baseline), then while a sync in a third
process pushes ``--documents`` invoices to in-memory books answering every call after ``--latency``
seconds, ``--batch`` invoices per call. Prints median and p99 of both and their ratio (target: the p99
during the push at most 2x the p99 without it).

    python -m bench.write_latency_bench [--documents 1000] [--latency 0.1] [--batch 5] [--writes 300]
                                        [--backend sqlite|postgresql|both] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.report import Figure, emit
from bench.support import free_port, scratch_database, served

TARGET_RATIO = 2.0
PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _reset() -> None:
    from config.settings import reset_settings_cache
    from models.db import reset_engine

    reset_settings_cache()
    reset_engine()


def _seed(documents: int, books: str, batch: int) -> tuple[str, str, str, str]:
    """An organization, a platform key, a customer, ``documents`` issued invoices and a memory connection."""
    from api.keys import create_api_key
    from models import (
        AccountingConnection, ConnectionStatus, Counterpart, Organization, Receivable, ReceivableLineItem, session_scope,
    )
    from sandboxes.memory import PASSWORD

    now = datetime.now(UTC)
    with session_scope() as session:
        org = Organization(name="Latency Ltd")
        session.add(org)
        session.flush()
        customer = Counterpart(organization_id=org.id, name="Steady Customer", is_customer=True)
        session.add(customer)
        session.flush()
        for index in range(documents):
            session.add(Receivable(
                organization_id=org.id, counterpart_id=customer.id, document_number=f"L-{index:05d}", currency="USD",
                subtotal=10_000, tax_amount=2_000, total_amount=12_000, status="issued", issue_date=date.today(),
                due_date=date.today() + timedelta(days=30), eligible_at=now,
                lines=[ReceivableLineItem(description="Service", unit_price=10_000, total=10_000, tax_rate_value=2000)],
            ))
        connection = AccountingConnection(
            organization_id=org.id, platform="memory", status=ConnectionStatus.CONNECTED.value,
            settings={"books": books, "max_batch": batch}, credentials={"password": PASSWORD},
            books_id=f"memory:{books}", backfill=True, connected_at=now, next_sync_at=now + timedelta(hours=1),
        )
        session.add(connection)
        session.flush()
        key = create_api_key(session, None, name="bench").key
        return str(org.id), key, str(customer.id), str(connection.id)


@contextmanager
def _api(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    with served([str(BIN / "booksync"), "api", "--port", str(port)], env, port) as url:
        yield url


def _writes(url: str, key: str, organization: str, customer: str, count: int) -> list[float]:
    headers = {"Authorization": f"Bearer {key}", "X-Organization-Id": organization}
    body = {
        "counterpart_id": customer, "document_number": "W", "currency": "USD", "status": "draft",
        "issue_date": date.today().isoformat(), "due_date": date.today().isoformat(), "subtotal": 1000,
        "tax_amount": 200, "total_amount": 1200,
        "line_items": [{"description": "Item", "quantity": 1, "unit_price": 1000, "tax_rate_value": 2000}],
    }
    latencies = []
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            answer = client.put(f"{url}/receivables/{uuid.uuid4()}", headers=headers, json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"intake answered {answer.status_code}: {answer.text[:300]}")
    return latencies


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2), "n": len(ordered)}


def run_sync(connection_id: str, books: str, latency: float) -> None:
    """The sync, in its own process (``--run-sync``): the in-memory books live in this process."""
    from models.db import get_sessionmaker
    from sandboxes.memory import MemoryBooks
    from tasks.engine.sync import run_sync as sync

    MemoryBooks.named(books).faults.latency = latency
    summary = sync(get_sessionmaker(), uuid.UUID(connection_id), "manual")
    print(json.dumps({"status": summary.status, "pushed": dict(summary.pushed), "ms": summary.duration_ms}))


def measure(backend: str, database_url: str, home: Path, *, documents: int, latency: float, batch: int,
            writes: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSYNC_")}
    env.update(BOOKSYNC_DATABASE_URL=database_url, BOOKSYNC_HOME=str(home), BOOKSYNC_LOG_LEVEL="WARNING",
               BOOKSYNC_BROKER_URL="filesystem://")
    os.environ.update({k: v for k, v in env.items() if k.startswith("BOOKSYNC_")})
    _reset()
    from models.migrate import upgrade

    upgrade(database_url)
    books = f"latency-{uuid.uuid4().hex[:6]}"
    organization, key, customer, connection = _seed(documents, books, batch)
    with _api(env) as url:
        _writes(url, key, organization, customer, 20)  # warm-up
        alone = _writes(url, key, organization, customer, writes)
        sync = subprocess.Popen(
            [sys.executable, "-m", "bench.write_latency_bench", "--run-sync", connection, "--books", books,
             "--latency", str(latency)], cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(1.0)  # the sync has pulled and is pushing
        during = _writes(url, key, organization, customer, writes)
        still_pushing = sync.poll() is None
        output, _ = sync.communicate(timeout=max(600.0, documents * latency * 2))
    result = json.loads(output.strip().splitlines()[-1])
    alone_stats, during_stats = _stats(alone), _stats(during)
    return {
        "backend": backend, "documents": documents, "latency_s": latency, "batch": batch,
        "sync": result, "writes_overlapped_the_push": still_pushing,
        "alone": alone_stats, "during_push": during_stats,
        "p99_ratio": round(during_stats["p99_ms"] / alone_stats["p99_ms"], 2),
        "median_ratio": round(during_stats["median_ms"] / alone_stats["median_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the provider takes per call")
    parser.add_argument("--batch", type=int, default=5, help="invoices per provider call")
    parser.add_argument("--writes", type=int, default=300, help="API writes measured, alone and during the push")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="300 documents, 100 writes")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--run-sync", help=argparse.SUPPRESS)
    parser.add_argument("--books", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_sync:
        run_sync(args.run_sync, args.books, args.latency)
        return
    if args.quick:
        args.documents, args.writes = 300, 100
    results = []
    for backend in (("sqlite", "postgresql") if args.backend == "both" else (args.backend,)):
        with tempfile.TemporaryDirectory(prefix="booksync-latency-") as folder:
            home = Path(folder)
            if backend == "sqlite":
                results.append(measure(backend, f"sqlite:///{home / 'booksync.db'}", home, documents=args.documents,
                                       latency=args.latency, batch=args.batch, writes=args.writes))
            else:
                with scratch_database("bench_latency") as url:
                    results.append(measure(backend, url, home, documents=args.documents, latency=args.latency,
                                           batch=args.batch, writes=args.writes))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"API write latency (PUT /receivables) while a sync pushes {args.documents} invoices, "
          f"{args.latency * 1000:.0f} ms per provider call, {args.batch} per call; target p99 ratio <= {TARGET_RATIO}")
    for r in results:
        print(f"  {r['backend']:<10} alone: median {r['alone']['median_ms']:6.1f} ms  p99 {r['alone']['p99_ms']:6.1f} ms"
              f" | during the push: median {r['during_push']['median_ms']:6.1f} ms  p99 {r['during_push']['p99_ms']:6.1f}"
              f" ms | p99 ratio {r['p99_ratio']:.2f} ({'met' if r['p99_ratio'] <= TARGET_RATIO else 'MISSED'})"
              f"{'' if r['writes_overlapped_the_push'] else '  [the push ended before the writes: raise --documents]'}"
              f" | sync {r['sync']['status']}, pushed {r['sync']['pushed'].get('receivable', 0)} in "
              f"{r['sync']['ms'] / 1000:.1f} s")
    emit(*(Figure("write-latency", f"{r['backend']}: PUT /receivables p99 while {args.documents} invoices are pushed "
                  f"({args.latency * 1000:.0f} ms a call)", r["during_push"]["p99_ms"], "ms", better="lower",
                  baseline=r["alone"]["p99_ms"], baseline_name="the same writes with no sync",
                  target=f"<= {TARGET_RATIO:g}x the p99 alone", target_value=1 / TARGET_RATIO,
                  note="" if r["writes_overlapped_the_push"] else "the push ended before the writes")
           for r in results))


if __name__ == "__main__":
    main()
