"""Task throughput: ``sync_connection`` tasks a second for connections with nothing to do, against a no-op task.

One real Celery worker (prefork, booksync's own settings: acks late, prefetch 1, task events, children
recycled every ``BOOKSYNC_WORKER_MAX_TASKS_PER_CHILD`` tasks) on a Redis broker and a scratch PostgreSQL
database runs, in the same run and on the same queue:

* the baseline: ``--tasks`` no-op tasks (``tasks.ping``);
* ``--tasks`` ``tasks.sync_connection`` tasks, one per connection, each connection connected to empty
  in-memory books (``sandboxes.memory``: no network, every list answers nothing) and synced before
  (its tax rates and ledger accounts are there): the sync takes its lease, pulls tax rates, accounts,
  bills and invoices, finds nothing to push, releases the lease and logs its summary.

Both are enqueued the way beat enqueues syncs (``tasks.publish.publish_many``) into a worker already
running, in four turns each, alternating (no-op, syncs, no-op, syncs...: a drift in the machine's load
falls on both);
throughput is measured from the worker's own ``task-succeeded`` events, from the first task's end to
the last's. Target (issue 17, item 5): syncs at least 0.5x the no-op's rate.

``--profile`` also writes a cProfile of the worker processes' tasks and prints its top entries.

    python -m bench.task_throughput_bench [--quick] [--tasks 5000] [--concurrency 2] [--profile]
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.report import Figure, emit
from bench.support import scratch_database

REDIS_URL = os.environ.get("BOOKSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
PROJECT = Path(__file__).resolve().parents[1]
BENCHMARK = "task throughput"
TARGET_RATIO = 0.5
#: Each kind runs in this many turns, alternating (the machine's load drifts; both see the same drift).
TURNS = 4


def _seed(count: int) -> list[str]:
    """``count`` organizations, each with one connected connection to its own empty memory books."""
    from models.db import get_engine

    with get_engine().begin() as connection:
        connection.execute(text(
            "INSERT INTO organizations (id, name, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'org ' || n, now(), now() FROM generate_series(1, :n) AS n"), {"n": count})
        ids = connection.execute(text(
            "INSERT INTO accounting_connections (id, organization_id, platform, books_id, status, settings, errors, "
            "cursors, backfill, sync_count, retry_count, connected_at, next_sync_at, created_at, updated_at) "
            "SELECT gen_random_uuid(), id, 'memory', 'memory:empty-' || id, 'connected', "
            "jsonb_build_object('books', 'empty-' || id), '[]', '{}', false, 0, 0, now(), "
            "now() + interval '1 hour', now(), now() FROM organizations RETURNING id")).scalars().all()
    return [str(item) for item in ids]


def _warm(connection_ids: list[str]) -> None:
    """Make every connection one that has synced before: sync the first here (the books are empty in
    every process), then copy its tax rates and ledger accounts to the others in SQL and count the sync."""
    import sandboxes.memory  # noqa: F401
    from models.db import get_engine, get_sessionmaker
    from tasks.engine.sync import run_sync

    template = connection_ids[0]
    summary = run_sync(get_sessionmaker(), uuid.UUID(template), "manual")
    assert summary.status == "done", summary.as_dict()
    with get_engine().begin() as connection:
        for table in ("accounting_tax_rates", "ledger_accounts"):
            columns = connection.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position"),
                {"t": table}).scalars().all()
            replaced = {"id": "gen_random_uuid()", "organization_id": "c.organization_id", "connection_id": "c.id",
                        "books_id": "c.books_id"}
            values = ", ".join(replaced.get(name, f"t.{name}") for name in columns)
            connection.execute(text(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} t "
                "CROSS JOIN accounting_connections c WHERE t.connection_id = :template AND c.id <> :template"),
                {"template": template})
        connection.execute(text(
            "UPDATE accounting_connections SET sync_count = 1, last_pull = now(), last_sync_started_at = now(), "
            "last_sync_finished_at = now() WHERE id <> :template"), {"template": template})
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


@contextmanager
def _worker(env: dict[str, str], concurrency: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    args = [str(Path(sys.executable).parent / "celery"), "-A", "bench.task_worker", "worker", "--loglevel", "INFO",
            "-P", "prefork", "-c", str(concurrency), "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "--without-mingle",
            "--without-gossip", "-Q", "booksync"]
    with open(log, "ab") as out:
        process = subprocess.Popen(args, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "ready" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {log}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()  # SIGTERM: the worker stops its pool, children write their profiles
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class Finished:
    """The worker's ``task-succeeded`` / ``task-failed`` events, as they arrive (a thread reads them)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.failed: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._receiver: Any = None
        self._names: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Finished:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the event receiver did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(10)

    def _run(self) -> None:
        def received(event: dict[str, Any]) -> None:
            kind = event["type"]
            if kind == "task-received":
                self._names[event["uuid"]] = event["name"]
                return
            name = self._names.pop(event["uuid"], "?")
            with self.lock:
                if kind == "task-failed":
                    self.failed.append(event)
                self.times.setdefault(name, []).append(float(event["timestamp"]))

        with self.app.connection_for_read() as connection:
            receiver = self.app.events.Receiver(connection, handlers={
                "task-received": received, "task-succeeded": received, "task-failed": received})
            consume_ready = receiver.on_consume_ready

            def ready(*args: Any, **kwargs: Any) -> None:
                consume_ready(*args, **kwargs)
                self._ready.set()

            receiver.on_consume_ready = ready  # type: ignore[method-assign]
            self._receiver = receiver
            receiver.capture(limit=None, timeout=None, wakeup=False)

    def wait(self, name: str, count: int, timeout: float) -> list[float]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                done = list(self.times.get(name, ()))
                if self.failed:
                    raise RuntimeError(f"a task failed: {self.failed[0].get('exception')}")
            if len(done) >= count:
                return sorted(done)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(done)} of {count} {name} tasks finished in {timeout:.0f} s")
            time.sleep(0.05)


def _span(times: list[float]) -> tuple[int, float]:
    """Tasks finished after the first one, and the seconds from the first's end to the last's."""
    return len(times) - 1, times[-1] - times[0]


def _run(finished: Finished, task: Any, arg_lists: list[list[Any]]) -> tuple[int, float]:
    """Enqueue ``task`` once per argument list (as beat does) and wait for the worker to finish them all."""
    from tasks.publish import publish_many

    already = len(finished.times.get(task.name, ()))
    publish_many(task, arg_lists)
    times = finished.wait(task.name, already + len(arg_lists), timeout=max(120.0, len(arg_lists) * 0.2))
    return _span(times[already:])


def _print_profile(folder: Path, top: int) -> None:
    stats: pstats.Stats | None = None
    loaded = 0
    for path in sorted(folder.glob("*.prof")):
        try:  # a process killed while writing leaves a file pstats cannot read: skip it
            stats = pstats.Stats(str(path)) if stats is None else stats.add(str(path))
            loaded += 1
        except (TypeError, EOFError, ValueError):
            continue
    if stats is None:
        print("no profile was written (did the worker stop cleanly?)")
        return
    print(f"\nprofile of the worker processes' tasks ({loaded} processes), by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)
    print("by own time:")
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5_000,
                        help="tasks of each kind (syncs: one per connection); 5,000 take about 4 minutes here")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2, help="worker processes")
    parser.add_argument("--quick", action="store_true", help="1,000 tasks of each kind")
    parser.add_argument("--profile", action="store_true", help="cProfile the worker processes and print the top")
    parser.add_argument("--top", type=int, default=40, help="profile entries printed")
    args = parser.parse_args()
    if args.quick:
        args.tasks = 1_000
    if args.tasks < 2:
        parser.error("--tasks must be at least 2")
    if not os.environ.get("BOOKSYNC_SECRET_KEY"):
        from cryptography.fernet import Fernet

        os.environ["BOOKSYNC_SECRET_KEY"] = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="booksync-task-bench-") as folder:
        home = Path(os.environ.get("BOOKSYNC_BENCH_KEEP") or folder)
        os.environ.update(BOOKSYNC_BROKER_URL=REDIS_URL, BOOKSYNC_HOME=str(home), BOOKSYNC_LOG_FORMAT="json",
                          BOOKSYNC_LOG_LEVEL="INFO")
        with scratch_database("booksync_bench_tasks") as database_url:
            import redis

            from config.settings import reset_settings_cache

            reset_settings_cache()
            redis.Redis.from_url(REDIS_URL).flushdb()
            started = time.perf_counter()
            connection_ids = _seed(args.tasks)
            _warm(connection_ids)
            print(f"seeded {args.tasks:,} connections to empty books, each as after one sync, "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSYNC_BENCH_")}
            env.update(BOOKSYNC_DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
            profile = home / "profile"
            if args.profile:
                profile.mkdir()
                env["BOOKSYNC_BENCH_PROFILE"] = str(profile)
            from tasks.definitions import ping, sync_connection
            from worker import app

            log = home / "worker.log"
            noop_tasks = sync_tasks = 0
            noop_seconds = sync_seconds = 0.0
            with Finished(app) as finished, _worker(env, args.concurrency, log):
                _run(finished, ping, [[] for _ in range(min(200, args.tasks))])  # warm-up: children forked
                # in turns, so that a drift in the machine's load falls on both alike
                step = -(-args.tasks // TURNS)
                for part in (connection_ids[start:start + step] for start in range(0, args.tasks, step)):
                    done, seconds = _run(finished, ping, [[] for _ in part])
                    noop_tasks, noop_seconds = noop_tasks + done, noop_seconds + seconds
                    done, seconds = _run(finished, sync_connection, [[item, "schedule"] for item in part])
                    sync_tasks, sync_seconds = sync_tasks + done, sync_seconds + seconds
            noop, syncs = noop_tasks / noop_seconds, sync_tasks / sync_seconds
            from models.db import get_engine

            with get_engine().connect() as connection:
                synced = connection.execute(text(
                    "SELECT count(*) FROM accounting_connections WHERE sync_count = 2 AND lease_holder IS NULL"
                )).scalar_one()
            redis.Redis.from_url(REDIS_URL).flushdb()
            if synced != args.tasks:
                raise SystemExit(f"only {synced} of {args.tasks} connections finished their second sync; see {log}")
            if args.profile:
                _print_profile(profile, args.top)

    print(f"\n{'task':<40} {'tasks':>7} {'per second':>11}")
    print(f"{'no-op (tasks.ping)':<40} {args.tasks:>7,} {noop:>11,.0f}")
    print(f"{'sync_connection, nothing to do':<40} {args.tasks:>7,} {syncs:>11,.0f}")
    print(f"ratio {syncs / noop:.2f} (target >= {TARGET_RATIO}); worker: prefork, concurrency {args.concurrency}, "
          "acks late, prefetch 1, Redis broker, PostgreSQL")
    emit(Figure(
        benchmark=BENCHMARK, name=f"sync_connection, nothing to do ({args.tasks:,} tasks, {args.concurrency} processes)",
        value=syncs, unit="tasks/s", better="higher", baseline=noop, baseline_name="no-op task",
        target=f">= {TARGET_RATIO}x the no-op", target_value=TARGET_RATIO,
        note="a real prefork worker on Redis and PostgreSQL; memory books answering empty",
    ))


if __name__ == "__main__":
    main()
