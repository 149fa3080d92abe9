"""Fan-out: ``schedule_due_syncs`` enqueueing N due connections onto Redis, against one apply_async per row.

Also the partitioned fan-out (``BOOKSYNC_SCHEDULE_PARTITIONS``): each part run in its own process, as
worker processes run them, timed from start to the last part's end (interpreter start included).
The per-row baseline publishes a sample (10,000 by default) and its rate is projected to N.

booksync claims due connections in batches of 1,000 (memory stays flat) and publishes each batch
over one producer; the baseline loads every due id at once and calls ``apply_async`` per row.

    python -m bench.fanout_bench [--connections 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.support import peak_rss_mb, scratch_database, timed

REDIS_URL = os.environ.get("BOOKSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def _seed(count: int, due: datetime) -> None:
    from models.db import get_engine

    with get_engine().begin() as connection:
        connection.execute(text(
            "INSERT INTO organizations (id, name, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'org ' || n, now(), now() FROM generate_series(1, :n) AS n"), {"n": count})
        connection.execute(text(
            "INSERT INTO accounting_connections (id, organization_id, platform, status, settings, errors, cursors, "
            "backfill, sync_count, retry_count, next_sync_at, created_at, updated_at) "
            "SELECT gen_random_uuid(), id, 'tryton', 'connected', '{}', '[]', '{}', false, 0, 0, :due, now(), now() "
            "FROM organizations"), {"due": due})


def _reset_due(due: datetime) -> None:
    from models.db import get_engine

    with get_engine().begin() as connection:
        connection.execute(text("UPDATE accounting_connections SET next_sync_at = :due"), {"due": due})


def _queue_length() -> int:
    import redis

    return int(redis.Redis.from_url(REDIS_URL).llen("booksync"))


def _flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def _run_partitions(partitions: int) -> None:
    """Each part in its own process, as separate worker processes run them: wall time of them all."""
    code = "import sys; from tasks.definitions import schedule_due_syncs; schedule_due_syncs.run(int(sys.argv[1]), int(sys.argv[2]))"
    processes = [subprocess.Popen([sys.executable, "-c", code, str(k), str(partitions)]) for k in range(partitions)]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit("a partition failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=os.cpu_count() or 2,
                        help="parts of the partitioned fan-out, each run in its own process like a worker's")
    parser.add_argument("--baseline-sample", type=int, default=10_000,
                        help="rows the per-row baseline publishes (it is slow); its rate is projected to all")
    args = parser.parse_args()
    os.environ["BOOKSYNC_BROKER_URL"] = REDIS_URL
    with scratch_database("booksync_bench_fanout"):
        from sqlalchemy import select

        from config import get_settings
        from models import AccountingConnection
        from models.db import get_sessionmaker
        from tasks import sync_connection
        from tasks.definitions import schedule_due_syncs

        now = datetime.now(UTC)
        _seed(args.connections, now - timedelta(minutes=1))
        _flush()

        rss_before = peak_rss_mb()
        booksync_s = timed(lambda: schedule_due_syncs.run())
        booksync_peak = peak_rss_mb() - rss_before
        enqueued = _queue_length()
        _flush()

        _reset_due(now - timedelta(minutes=1))
        partitioned_s = timed(lambda: _run_partitions(args.partitions))
        partitioned = _queue_length()
        _flush()

        _reset_due(now - timedelta(minutes=1))

        def one_apply_async_per_row() -> None:
            with get_sessionmaker()() as session:
                ids = session.execute(select(AccountingConnection.id).where(
                    AccountingConnection.next_sync_at <= datetime.now(UTC)).limit(args.baseline_sample)).scalars().all()
                for connection_id in ids:
                    sync_connection.apply_async(args=[str(connection_id), "schedule"])

        rss_before = peak_rss_mb()
        naive_s = timed(one_apply_async_per_row)
        naive_peak = peak_rss_mb() - rss_before
        naive_enqueued = _queue_length()
        _flush()
        del get_settings

    print(f"{'method':<34} {'connections':>11} {'seconds':>8} {'per second':>11} {'peak RSS growth MB':>19}")
    print(f"{'schedule_due_syncs (batched)':<34} {enqueued:>11,} {booksync_s:>8.2f} {enqueued / booksync_s:>11,.0f} {booksync_peak:>19.1f}")
    label = f"partitioned, {args.partitions} processes"
    print(f"{label:<34} {partitioned:>11,} {partitioned_s:>8.2f} {partitioned / partitioned_s:>11,.0f} {'':>19}")
    print(f"{'one apply_async per row':<34} {naive_enqueued:>11,} {naive_s:>8.2f} {naive_enqueued / naive_s:>11,.0f} {naive_peak:>19.1f}")
    projected = args.connections / (naive_enqueued / naive_s)
    print(f"per-row baseline projected to {args.connections:,}: {projected:.1f} s; "
          f"ratio (projected per-row time / booksync time): {projected / booksync_s:.1f}")
    best = min(booksync_s, partitioned_s)
    print(f"target: all {args.connections:,} enqueued in < 10 s: {'met' if best < 10 else 'NOT met'} "
          f"(one task {booksync_s:.1f} s; {args.partitions} partitions {partitioned_s:.1f} s, process start included)")


if __name__ == "__main__":
    main()
