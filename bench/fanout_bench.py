"""Fan-out: ``schedule_due_syncs`` enqueueing N due connections onto Redis, against one apply_async per row.

Also the partitioned fan-out (``BOOKSYNC_SCHEDULE_PARTITIONS``): each part run in its own process, as
worker processes run them, timed from start to the last part's end (interpreter start included).
The per-row baseline publishes a sample (10,000 by default) and its rate is projected to N.

booksync claims due connections in batches of 1,000 (memory stays flat) and publishes each batch
over one producer; the baseline loads every due id at once and calls ``apply_async`` per row.

    python -m bench.fanout_bench [--quick]      # 1k, 10k and 100k due connections, each in a fresh process
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.report import Figure, emit
from bench.support import peak_rss_mb, scratch_database, timed

REDIS_URL = os.environ.get("BOOKSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


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


def measure(connections: int, partitions: int, baseline_sample: int) -> dict[str, float]:
    os.environ["BOOKSYNC_BROKER_URL"] = REDIS_URL
    with scratch_database("booksync_bench_fanout"):
        from sqlalchemy import select

        from models import AccountingConnection
        from models.db import get_sessionmaker
        from tasks import sync_connection
        from tasks.definitions import schedule_due_syncs

        now = datetime.now(UTC)
        _seed(connections, now - timedelta(minutes=1))
        _flush()

        rss_before = peak_rss_mb()
        booksync_s = timed(lambda: schedule_due_syncs.run())
        booksync_peak = peak_rss_mb() - rss_before
        enqueued = _queue_length()
        _flush()

        _reset_due(now - timedelta(minutes=1))
        partitioned_s = timed(lambda: _run_partitions(partitions))
        partitioned = _queue_length()
        _flush()

        _reset_due(now - timedelta(minutes=1))

        def one_apply_async_per_row() -> None:
            with get_sessionmaker()() as session:
                ids = session.execute(select(AccountingConnection.id).where(
                    AccountingConnection.next_sync_at <= datetime.now(UTC)).limit(baseline_sample)).scalars().all()
                for connection_id in ids:
                    sync_connection.apply_async(args=[str(connection_id), "schedule"])

        rss_before = peak_rss_mb()
        naive_s = timed(one_apply_async_per_row)
        naive_peak = peak_rss_mb() - rss_before
        naive_enqueued = _queue_length()
        _flush()
    if enqueued != connections or partitioned != connections:
        raise SystemExit(f"enqueued {enqueued} (partitioned {partitioned}) of {connections} due connections")
    return {"connections": connections, "booksync_s": booksync_s, "booksync_rss_growth_mb": booksync_peak,
            "partitioned_s": partitioned_s, "partitions": partitions, "naive_sample": naive_enqueued,
            "naive_s": naive_s, "naive_rss_growth_mb": naive_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, help="measure one size in this process and print JSON")
    parser.add_argument("--partitions", type=int, default=os.cpu_count() or 2,
                        help="parts of the partitioned fan-out, each run in its own process like a worker's")
    parser.add_argument("--baseline-sample", type=int, default=10_000,
                        help="rows the per-row baseline publishes (it is slow); its rate is projected to all")
    parser.add_argument("--quick", action="store_true", help="a baseline sample of 2,000")
    args = parser.parse_args()
    sample = 2_000 if args.quick else args.baseline_sample
    if args.connections:
        print(json.dumps(measure(args.connections, args.partitions, min(sample, args.connections))))
        return
    results = []
    for size in SIZES:
        output = subprocess.run([sys.executable, "-m", "bench.fanout_bench", "--connections", str(size),
                                 "--partitions", str(args.partitions), "--baseline-sample", str(sample)],
                                check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    print(f"{'connections':>11} {'batched s':>10} {'RSS growth MB':>14} {f'{args.partitions} parts s':>10} "
          f"{'per-row s (projected)':>22} {'us/connection':>14}")
    for r in results:
        projected = r["naive_s"] * r["connections"] / r["naive_sample"]
        print(f"{r['connections']:>11,} {r['booksync_s']:>10.2f} {r['booksync_rss_growth_mb']:>14.1f} "
              f"{r['partitioned_s']:>10.2f} {projected:>22.1f} {1e6 * r['booksync_s'] / r['connections']:>14.1f}")
    largest = results[-1]
    projected = largest["naive_s"] * largest["connections"] / largest["naive_sample"]
    best = min(largest["booksync_s"], largest["partitioned_s"])
    figures = [
        Figure("fan-out", f"{largest['connections']:,} due connections enqueued", best, "s", better="lower",
               baseline=projected, baseline_name="one apply_async per row (projected)",
               target="< 10 s", target_value=10, target_on="value",
               note=f"best of one task ({largest['booksync_s']:.1f} s) and {args.partitions} partitions "
                    f"({largest['partitioned_s']:.1f} s, process start included)"),
        Figure("fan-out", "peak RSS growth at 1k vs 100k connections",
               largest["booksync_rss_growth_mb"] - results[0]["booksync_rss_growth_mb"], "MB", better="lower",
               target="flat (< 20 MB)", target_value=20, target_on="value"),
    ]
    figures += [Figure("growth", f"fan-out, {r['connections']:,} connections",
                       1e6 * r["booksync_s"] / r["connections"], "us/connection", better="lower") for r in results]
    emit(*figures)


SIZES = (1_000, 10_000, 100_000)

if __name__ == "__main__":
    main()
