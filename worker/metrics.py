"""Prometheus metrics: what the workers did (counted by signal handlers) and the backlog (read at scrape time).

A prefork worker runs tasks in child processes, so its counters use prometheus_client's
multiprocess mode: every process writes its own file under one directory per worker node
(``PROMETHEUS_MULTIPROC_DIR``, else ``<home>/metrics/<node name>``), wiped when the worker starts.
Children are replaced every ``worker_max_tasks_per_child`` tasks; the worker's main process folds
the files of exited children into one archive file, so the directory and the scrape stay small.

The files are served by the worker's own exporter (``BOOKSYNC_WORKER_METRICS_PORT``) and, on a
host the workers share with the API, by the API's ``/metrics``, which also computes from the
database and the broker how long ago each connection was last pulled and how deep the queues are.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from celery.signals import task_failure, task_postrun, task_prerun, worker_init, worker_ready, worker_shutdown
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

SYNC_TASK = "tasks.sync_connection"
PUSH_TASK = "tasks.push_synced_record"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ARCHIVE_PID = "archived"
COMPACT_EVERY_SECONDS = 60.0
FAILED_SYNC_STATUSES = frozenset({"failed", "interrupted"})
TIMED_SYNC_STATUSES = frozenset({"done", "failed", "interrupted"})
DURATION_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class WorkerMetrics:
    syncs_started: Counter
    syncs_finished: Counter
    syncs_failed: Counter
    sync_retries: Counter
    sync_duration: Histogram
    sync_objects: Counter
    pushes: Counter


@functools.cache
def worker_metrics() -> WorkerMetrics:
    """The metrics, created on first use: after multiprocess mode is on, in a worker."""
    return WorkerMetrics(
        syncs_started=Counter("booksync_syncs_started", "Syncs a worker started.", ["platform"]),
        syncs_finished=Counter(
            "booksync_syncs_finished",
            "Syncs that ended, by outcome: done, busy, skipped, failed, interrupted, or error (the task raised).",
            ["platform", "status"],
        ),
        syncs_failed=Counter(
            "booksync_syncs_failed", "Syncs that failed, were interrupted, or whose task raised.", ["platform"]
        ),
        sync_retries=Counter("booksync_sync_retries", "Syncs retried after a retryable provider error.", ["platform"]),
        sync_duration=Histogram(
            "booksync_sync_duration_seconds", "How long syncs that ran took.", ["platform"], buckets=DURATION_BUCKETS
        ),
        sync_objects=Counter(
            "booksync_sync_objects",
            "Objects syncs pulled, pushed, or recorded an error for.",
            ["platform", "object_type", "result"],
        ),
        pushes=Counter(
            "booksync_pushes",
            "Pushes by outcome (done, error, failed: the task raised); source is a sync or tasks.push_synced_record.",
            ["source", "outcome"],
        ),
    )


class _State:
    def __init__(self) -> None:
        self.enabled = False
        self.directory: Path | None = None
        self.owns_directory = False
        self.lock = threading.Lock()
        self.platforms: dict[str, str] = {}
        self.started: dict[str, float] = {}


runtime = _State()


# -- multiprocess files --------------------------------------------------------------------------


def metrics_root() -> Path:
    """Where the workers' files are: ``PROMETHEUS_MULTIPROC_DIR``, else ``<home>/metrics``."""
    if os.environ.get(MULTIPROC_ENV):
        return Path(os.environ[MULTIPROC_ENV])
    from config import get_settings

    return (get_settings().home / "metrics").resolve()


def node_directory(nodename: str) -> Path:
    return metrics_root() / re.sub(r"[^A-Za-z0-9_.@-]+", "_", nodename)


def enable_multiprocess(directory: Path) -> None:
    """Count into per-process files under ``directory`` from now on (this process and its children).

    Files left by an earlier run of this worker are removed first: their processes are gone.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()
    runtime.directory = directory
    runtime.enabled = True


def _pid_of(path: Path) -> str:
    return path.stem.rsplit("_", 1)[-1]


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def compact(directory: Path) -> int:
    """Fold the counter and histogram files of exited processes into one archive file per type.

    Counters and histogram buckets add up, so the archive holds their sums and scrapes see the same
    totals from fewer files. Gauge files are left alone (their value is per process). Returns how
    many files were folded.
    """
    folded = 0
    with runtime.lock:
        for kind in ("counter", "histogram"):
            dead = [p for p in directory.glob(f"{kind}_*.db") if _pid_of(p) != ARCHIVE_PID and not _alive(_pid_of(p))]
            if not dead:
                continue
            totals: dict[str, float] = defaultdict(float)
            for path in dead:
                for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
                    totals[key] += value
            archive = MmapedDict(str(directory / f"{kind}_{ARCHIVE_PID}.db"))
            try:
                for key, value in totals.items():
                    current, _ = archive.read_value(key)
                    archive.write_value(key, current + value, 0.0)
            finally:
                archive.close()
            for path in dead:
                path.unlink(missing_ok=True)
                folded += 1
    return folded


class FilesCollector(Collector):
    """The sum of every worker's files under ``root`` (a node directory, or the root of several).

    Without a root, the one the settings name at each scrape (``metrics_root()``).
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root

    def files(self) -> list[str]:
        root = self.root or metrics_root()
        return sorted({*glob.glob(str(root / "*.db")), *glob.glob(str(root / "*" / "*.db"))})

    def collect(self) -> Iterable[Any]:
        with runtime.lock:
            files = self.files()
            return MultiProcessCollector.merge(files, accumulate=True) if files else []


def _compact_forever(directory: Path) -> None:
    while True:
        time.sleep(COMPACT_EVERY_SECONDS)
        try:
            compact(directory)
        except Exception:  # noqa: BLE001
            log.warning("metrics.compact_failed", directory=str(directory), exc_info=True)


def start_exporter(directory: Path, port: int, host: str) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FilesCollector(directory))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.warning("metrics.exporter_not_started", host=host, port=port, error=str(exc))
        return
    log.info("metrics.exporter_started", host=host, port=port)


# -- worker lifecycle ----------------------------------------------------------------------------


@worker_init.connect
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    nodename = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    explicit = bool(os.environ.get(MULTIPROC_ENV))
    directory = Path(os.environ[MULTIPROC_ENV]) if explicit else node_directory(nodename)
    enable_multiprocess(directory)
    runtime.owns_directory = not explicit


@worker_ready.connect
def _on_worker_ready(**_: Any) -> None:
    if runtime.directory is None:
        return
    from config import get_settings

    settings = get_settings()
    threading.Thread(target=_compact_forever, args=(runtime.directory,), name="metrics-compact", daemon=True).start()
    # Until config/settings.py has worker_metrics_port/worker_metrics_host, no exporter starts.
    port = settings.worker_metrics_port
    if port:
        start_exporter(runtime.directory, port, settings.worker_metrics_host)


@worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    directory = runtime.directory
    if directory is None or not runtime.owns_directory:
        return
    with runtime.lock:
        for path in directory.glob("*.db"):
            path.unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass


# -- what tasks did ------------------------------------------------------------------------------


def _platform_of(connection_id: Any) -> str:
    """The connection's platform (it never changes), looked up once per connection per process."""
    key = str(connection_id)
    if key in runtime.platforms:
        return runtime.platforms[key]
    from sqlalchemy import select

    from models import AccountingConnection
    from models.db import get_sessionmaker

    try:
        import uuid

        with get_sessionmaker()() as session:
            platform = session.scalar(
                select(AccountingConnection.platform).where(AccountingConnection.id == uuid.UUID(key))
            )
    except Exception:  # noqa: BLE001
        return UNKNOWN
    if platform is None:
        return UNKNOWN
    if len(runtime.platforms) > 100_000:
        runtime.platforms.clear()
    runtime.platforms[key] = platform
    return platform


def _first_arg(args: Any, kwargs: Mapping[str, Any] | None, name: str) -> Any:
    if args:
        return args[0]
    return (kwargs or {}).get(name)


def record_sync_started(task_id: str | None, connection_id: Any) -> None:
    worker_metrics().syncs_started.labels(platform=_platform_of(connection_id)).inc()
    if task_id:
        runtime.started[task_id] = time.monotonic()


def record_sync_result(task_id: str | None, connection_id: Any, summary: Mapping[str, Any]) -> None:
    metrics = worker_metrics()
    platform = str(summary.get("platform") or _platform_of(connection_id))
    status = str(summary.get("status") or UNKNOWN)
    started = runtime.started.pop(task_id, None) if task_id else None
    metrics.syncs_finished.labels(platform=platform, status=status).inc()
    if status in FAILED_SYNC_STATUSES:
        metrics.syncs_failed.labels(platform=platform).inc()
    if status in TIMED_SYNC_STATUSES:
        duration_ms = summary.get("duration_ms")
        seconds = duration_ms / 1000 if isinstance(duration_ms, int | float) else (
            time.monotonic() - started if started is not None else None
        )
        if seconds is not None:
            metrics.sync_duration.labels(platform=platform).observe(seconds)
    for result, key in (("pulled", "pulled"), ("pushed", "pushed"), ("error", "errors")):
        counts = summary.get(key) or {}
        for object_type, count in counts.items() if isinstance(counts, Mapping) else ():
            if isinstance(count, int) and count > 0:
                metrics.sync_objects.labels(platform=platform, object_type=str(object_type), result=result).inc(count)
    pushed = sum(v for v in (summary.get("pushed") or {}).values() if isinstance(v, int))
    errored = sum(v for v in (summary.get("errors") or {}).values() if isinstance(v, int))
    if pushed:
        metrics.pushes.labels(source="sync", outcome="done").inc(pushed)
    if errored:
        metrics.pushes.labels(source="sync", outcome="error").inc(errored)


def record_sync_retry(task_id: str | None, connection_id: Any) -> None:
    if task_id:
        runtime.started.pop(task_id, None)
    worker_metrics().sync_retries.labels(platform=_platform_of(connection_id)).inc()


def record_sync_error(task_id: str | None, connection_id: Any) -> None:
    metrics = worker_metrics()
    platform = _platform_of(connection_id)
    started = runtime.started.pop(task_id, None) if task_id else None
    metrics.syncs_finished.labels(platform=platform, status="error").inc()
    metrics.syncs_failed.labels(platform=platform).inc()
    if started is not None:
        metrics.sync_duration.labels(platform=platform).observe(time.monotonic() - started)


def record_push(outcome: str) -> None:
    worker_metrics().pushes.labels(source="push_task", outcome=outcome).inc()


def _guarded(handler: Any) -> Any:
    """Metrics must never fail a task: a handler's error is logged and dropped."""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> None:
        if not runtime.enabled:
            return
        try:
            handler(*args, **kwargs)
        except Exception:  # noqa: BLE001
            log.warning("metrics.handler_failed", handler=handler.__name__, exc_info=True)

    return run


@task_prerun.connect
@_guarded
def _on_prerun(task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    if getattr(task, "name", None) == SYNC_TASK:
        record_sync_started(task_id, _first_arg(args, kwargs, "connection_id"))


@task_postrun.connect
@_guarded
def _on_postrun(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, retval: Any = None,
    state: str | None = None, **_: Any,
) -> None:
    name = getattr(task, "name", None)
    if name == SYNC_TASK:
        connection_id = _first_arg(args, kwargs, "connection_id")
        if state == "SUCCESS" and isinstance(retval, Mapping):
            record_sync_result(task_id, connection_id, retval)
        elif state == "RETRY":
            record_sync_retry(task_id, connection_id)
    elif name == PUSH_TASK and state == "SUCCESS" and isinstance(retval, Mapping):
        record_push(str(retval.get("sync_status") or UNKNOWN))


@task_failure.connect
@_guarded
def _on_failure(sender: Any = None, task_id: str | None = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    """Also sent by the main process when a child is killed at the hard time limit (no postrun then)."""
    name = getattr(sender, "name", None)
    if name == SYNC_TASK:
        record_sync_error(task_id, _first_arg(args, kwargs, "connection_id"))
    elif name == PUSH_TASK:
        record_push("failed")


# -- read at scrape time -------------------------------------------------------------------------


class ConnectionLagCollector(Collector):
    """Seconds since each connected connection's last successful pull: the lag an operator alerts on.

    A connection never pulled counts from when it connected. Read from the database at every scrape;
    if the database cannot be read, ``booksync_database_up`` is 0.
    """

    def collect(self) -> Iterator[Any]:
        from sqlalchemy import func, select

        from models import AccountingConnection, ConnectionStatus, utcnow
        from models.db import get_sessionmaker

        up = GaugeMetricFamily("booksync_database_up", "Whether the database could be read at this scrape.")
        per_connection = GaugeMetricFamily(
            "booksync_connection_last_pull_age_seconds",
            "Seconds since the connection's last successful pull (since it connected, if never).",
            labels=["connection_id", "organization_id", "platform"],
        )
        oldest = GaugeMetricFamily(
            "booksync_connection_last_pull_age_max_seconds",
            "The largest last-pull age among connected connections, by platform.", labels=["platform"],
        )
        never = GaugeMetricFamily(
            "booksync_connections_never_pulled", "Connected connections not pulled yet.", labels=["platform"]
        )
        by_status = GaugeMetricFamily("booksync_connections", "Connections by platform and status.",
                                      labels=["platform", "status"])
        now = utcnow()
        connection = AccountingConnection
        try:
            with get_sessionmaker()() as session:
                rows = session.execute(
                    select(connection.id, connection.organization_id, connection.platform, connection.last_pull,
                           connection.connected_at, connection.created_at)
                    .where(connection.status == ConnectionStatus.CONNECTED.value)
                ).all()
                counts = session.execute(
                    select(connection.platform, connection.status, func.count()).group_by(
                        connection.platform, connection.status
                    )
                ).all()
        except Exception as exc:  # noqa: BLE001
            log.warning("metrics.database_unreadable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        maxima: dict[str, float] = {}
        never_pulled: dict[str, int] = defaultdict(int)
        for connection_id, organization_id, platform, last_pull, connected_at, created_at in rows:
            since = last_pull or connected_at or created_at
            age = max(0.0, (now - since).total_seconds()) if since else 0.0
            per_connection.add_metric([str(connection_id), str(organization_id), platform], age)
            maxima[platform] = max(maxima.get(platform, 0.0), age)
            if last_pull is None:
                never_pulled[platform] += 1
        for platform, age in sorted(maxima.items()):
            oldest.add_metric([platform], age)
            never.add_metric([platform], never_pulled.get(platform, 0))
        for platform, status, count in counts:
            by_status.add_metric([platform, status], count)
        yield from (up, per_connection, oldest, never, by_status)


def redis_queue_keys(queue: str, steps: Iterable[int] = (0, 3, 6, 9), sep: str = "\x06\x16") -> list[str]:
    """The Redis lists kombu keeps a queue in: one per priority step."""
    return [queue if step == 0 else f"{queue}{sep}{step}" for step in steps]


class QueueDepthCollector(Collector):
    """Messages waiting in each queue (Redis LLEN) and delivered but not acknowledged yet.

    Only for a Redis broker; the embedded filesystem broker is not measured.
    """

    def __init__(self, queues: Iterable[str] | None = None) -> None:
        self.queues = list(queues) if queues is not None else None

    def _queues(self) -> list[str]:
        if self.queues is not None:
            return self.queues
        from worker import app

        names = {app.conf.task_default_queue}
        names.update(q.name for q in app.conf.task_queues or ())
        return sorted(names)

    def collect(self) -> Iterator[Any]:
        from config import get_settings

        settings = get_settings()
        if settings.uses_filesystem_broker or not settings.resolved_broker_url.startswith(("redis://", "rediss://")):
            return
        import redis

        up = GaugeMetricFamily("booksync_broker_up", "Whether the Redis broker could be read at this scrape.")
        depth = GaugeMetricFamily("booksync_queue_depth", "Task messages waiting in the queue.", labels=["queue"])
        unacked = GaugeMetricFamily(
            "booksync_tasks_unacked",
            "Task messages delivered to a worker and not acknowledged yet (running or reserved).",
        )
        try:
            client = redis.Redis.from_url(settings.resolved_broker_url, socket_timeout=2, socket_connect_timeout=2)
            with client.pipeline(transaction=False) as pipe:
                queues = self._queues()
                for queue in queues:
                    for key in redis_queue_keys(queue):
                        pipe.llen(key)
                pipe.hlen("unacked")
                answers = pipe.execute()
            client.close()
        except Exception as exc:  # noqa: BLE001
            log.warning("metrics.broker_unreadable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        per_queue = len(redis_queue_keys(""))
        for index, queue in enumerate(queues):
            depth.add_metric([queue], sum(answers[index * per_queue:(index + 1) * per_queue]))
        unacked.add_metric([], answers[-1])
        yield from (up, depth, unacked)


# -- webhooks -------------------------------------------------------------------------------------

WEBHOOK_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class WebhookMetrics:
    deliveries: Counter
    delivery_duration: Histogram


@functools.cache
def webhook_metrics() -> WebhookMetrics:
    return WebhookMetrics(
        deliveries=Counter(
            "booksync_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered, retrying (it failed and goes again), failed (given up "
            "after the retry window), skipped (not due, in flight, or waiting for an earlier event of its object).",
            ["outcome"],
        ),
        delivery_duration=Histogram(
            "booksync_webhook_delivery_seconds", "How long receivers took to answer a delivery (or to fail to).",
            buckets=WEBHOOK_DURATION_BUCKETS,
        ),
    )


def record_webhook_delivery(outcome: str, duration_ms: int | None) -> None:
    """Count one run of ``tasks.deliver_webhook`` (in workers only; never fails the task)."""
    if not runtime.enabled:
        return
    try:
        metrics = webhook_metrics()
        metrics.deliveries.labels(outcome=outcome).inc()
        if duration_ms is not None:
            metrics.delivery_duration.observe(duration_ms / 1000)
    except Exception:  # noqa: BLE001
        log.warning("metrics.webhook_record_failed", exc_info=True)


class WebhookCollector(Collector):
    """Subscriptions by status, each failing one by id (what an operator alerts on), and the backlog of
    deliveries not done yet with the age of the oldest. Read from the database at every scrape."""

    def collect(self) -> Iterator[Any]:
        from sqlalchemy import func, select

        from models import WebhookDelivery, WebhookSubscription, utcnow
        from models.webhooks import UNFINISHED_DELIVERY, SubscriptionStatus
        from models.db import get_sessionmaker

        by_status = GaugeMetricFamily("booksync_webhook_subscriptions", "Webhook subscriptions by status.",
                                      labels=["status"])
        failing = GaugeMetricFamily(
            "booksync_webhook_subscription_failing",
            "1 for each subscription marked failing: a delivery to it was given up after the retry window.",
            labels=["subscription_id", "organization_id"],
        )
        backlog = GaugeMetricFamily("booksync_webhook_deliveries_unfinished",
                                    "Webhook deliveries not delivered nor given up yet.", labels=["status"])
        oldest = GaugeMetricFamily("booksync_webhook_oldest_unfinished_seconds",
                                   "Age of the oldest webhook delivery not delivered nor given up yet.")
        subscription, delivery = WebhookSubscription, WebhookDelivery
        try:
            with get_sessionmaker()() as session:
                counts = session.execute(select(subscription.status, func.count()).group_by(subscription.status)).all()
                failing_rows = session.execute(
                    select(subscription.id, subscription.organization_id)
                    .where(subscription.status == SubscriptionStatus.FAILING.value)
                ).all()
                waiting = session.execute(
                    select(delivery.status, func.count(), func.min(delivery.created_at))
                    .where(delivery.status.in_(UNFINISHED_DELIVERY)).group_by(delivery.status)
                ).all()
        except Exception as exc:  # noqa: BLE001  (ConnectionLagCollector reports the database as down)
            log.warning("metrics.webhooks_unreadable", error=type(exc).__name__)
            return
        for status, count in counts:
            by_status.add_metric([status], count)
        for subscription_id, organization_id in failing_rows:
            failing.add_metric([str(subscription_id), str(organization_id) if organization_id else "platform"], 1)
        now = utcnow()
        started = [first for _status, _count, first in waiting if first is not None]
        for status, count, _first in waiting:
            backlog.add_metric([status], count)
        oldest.add_metric([], max(0.0, (now - min(started)).total_seconds()) if started else 0.0)
        yield from (by_status, failing, backlog, oldest)


def api_registry() -> CollectorRegistry:
    """What the API's ``/metrics`` serves: the backlog, the workers' files on this host, the API process."""
    from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConnectionLagCollector())
    registry.register(QueueDepthCollector())
    registry.register(WebhookCollector())
    registry.register(FilesCollector())
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry
