"""Prometheus metrics: what real workers did, the lag of each connection, the queue depth, and the files behind them."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import PROJECT_ROOT, VENV_BIN, celery_worker_args, running, subprocess_env, wait_for
from worker.metrics import (
    ConnectionLagCollector,
    FilesCollector,
    QueueDepthCollector,
    compact,
    record_push,
    record_sync_result,
    worker_metrics,
)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def registry_of(*collectors: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


def _seed(status: str = "connected", **values: Any) -> Any:
    from models import AccountingConnection, Organization, session_scope

    org = Organization(id=uuid.uuid4(), name="Acme")
    conn = AccountingConnection(id=uuid.uuid4(), organization_id=org.id, platform="tryton", status=status, **values)
    with session_scope() as session:
        session.add(org)
        session.flush()
        session.add(conn)
    return conn


# -- in this process ------------------------------------------------------------------------------


def test_a_sync_summary_is_counted_by_platform_status_and_object_type() -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {
        "finished": value("booksync_syncs_finished_total", platform="xero", status="failed"),
        "failed": value("booksync_syncs_failed_total", platform="xero"),
        "pulled": value("booksync_sync_objects_total", platform="xero", object_type="bill", result="pulled"),
        "errors": value("booksync_sync_objects_total", platform="xero", object_type="receivable", result="error"),
        "pushed": value("booksync_pushes_total", source="sync", outcome="done"),
        "duration": value("booksync_sync_duration_seconds_count", platform="xero"),
        "retry": value("booksync_pushes_total", source="push_task", outcome="error"),
    }
    worker_metrics()
    record_sync_result("t-1", str(uuid.uuid4()), {
        "platform": "xero", "status": "failed", "duration_ms": 2500, "pulled": {"bill": 7},
        "pushed": {"bill": 2, "receivable": 1}, "errors": {"receivable": 1},
    })
    record_push("error")
    assert value("booksync_syncs_finished_total", platform="xero", status="failed") == before["finished"] + 1
    assert value("booksync_syncs_failed_total", platform="xero") == before["failed"] + 1
    objects = "booksync_sync_objects_total"
    assert value(objects, platform="xero", object_type="bill", result="pulled") == before["pulled"] + 7
    assert value(objects, platform="xero", object_type="receivable", result="error") == before["errors"] + 1
    assert value("booksync_pushes_total", source="sync", outcome="done") == before["pushed"] + 3
    assert value("booksync_sync_duration_seconds_count", platform="xero") == before["duration"] + 1
    assert value("booksync_sync_duration_seconds_bucket", platform="xero", le="2.5") >= 1
    assert value("booksync_pushes_total", source="push_task", outcome="error") == before["retry"] + 1


def _write_counter(path: Path, value: float, labels: dict[str, str]) -> None:
    store = MmapedDict(str(path))
    key = mmap_key("booksync_syncs_started", "booksync_syncs_started_total", list(labels), list(labels.values()),
                   "Syncs a worker started.")
    store.write_value(key, value, 0.0)
    store.close()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_compaction_folds_exited_processes_into_one_file_and_keeps_the_totals(tmp_path: Path) -> None:
    dead_one, dead_two = _dead_pid(), _dead_pid()
    _write_counter(tmp_path / f"counter_{dead_one}.db", 3, {"platform": "tryton"})
    _write_counter(tmp_path / f"counter_{dead_two}.db", 4, {"platform": "tryton"})
    _write_counter(tmp_path / f"counter_{os.getpid()}.db", 5, {"platform": "tryton"})
    _write_counter(tmp_path / f"counter_{dead_two + 100_000}.db", 1, {"platform": "xero"})
    registry = registry_of(FilesCollector(tmp_path))
    key = ("booksync_syncs_started_total", (("platform", "tryton"),))
    assert samples(registry)[key] == 12

    assert compact(tmp_path) == 3
    assert {p.name for p in tmp_path.iterdir()} == {"counter_archived.db", f"counter_{os.getpid()}.db"}
    assert samples(registry)[key] == 12
    assert samples(registry)[("booksync_syncs_started_total", (("platform", "xero"),))] == 1

    _write_counter(tmp_path / f"counter_{_dead_pid()}.db", 10, {"platform": "tryton"})
    assert compact(tmp_path) == 1
    assert samples(registry)[key] == 22


def test_the_lag_gauge_counts_from_the_last_pull_or_from_connecting(pg_url: str) -> None:
    from models import utcnow

    now = utcnow()
    pulled = _seed(last_pull=now - timedelta(hours=2))
    never = _seed(connected_at=now - timedelta(minutes=30))
    _seed(status="disconnected", last_pull=now - timedelta(days=30))
    found = samples(registry_of(ConnectionLagCollector()))

    def age(conn: Any) -> float:
        labels = (("connection_id", str(conn.id)), ("organization_id", str(conn.organization_id)),
                  ("platform", "tryton"))
        return found[("booksync_connection_last_pull_age_seconds", labels)]

    assert 7200 <= age(pulled) < 7260
    assert 1800 <= age(never) < 1860
    assert len([k for k in found if k[0] == "booksync_connection_last_pull_age_seconds"]) == 2
    assert 7200 <= found[("booksync_connection_last_pull_age_max_seconds", (("platform", "tryton"),))] < 7260
    assert found[("booksync_connections_never_pulled", (("platform", "tryton"),))] == 1
    assert found[("booksync_connections", (("platform", "tryton"), ("status", "connected")))] == 2
    assert found[("booksync_connections", (("platform", "tryton"), ("status", "disconnected")))] == 1
    assert found[("booksync_database_up", ())] == 1


def test_the_lag_collector_says_when_the_database_is_down() -> None:
    from tests.support.env import booksync_env

    with booksync_env(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none", home=os.environ["BOOKSYNC_HOME"]):
        assert samples(registry_of(ConnectionLagCollector())) == {("booksync_database_up", ()): 0.0}


def test_queue_depth_counts_waiting_messages_on_redis(redis_url: str) -> None:
    import redis

    from tests.support.env import booksync_env
    from worker.metrics import redis_queue_keys

    queue = f"depth-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    client.rpush(queue, b"a", b"b")
    client.rpush(redis_queue_keys(queue)[2], b"c")
    try:
        with booksync_env(broker_url=redis_url, home=os.environ["BOOKSYNC_HOME"]):
            found = samples(registry_of(QueueDepthCollector([queue])))
        assert found[("booksync_queue_depth", (("queue", queue),))] == 3
        assert found[("booksync_broker_up", ())] == 1
        assert ("booksync_tasks_unacked", ()) in found
        with booksync_env(broker_url="redis://127.0.0.1:9/0", home=os.environ["BOOKSYNC_HOME"]):
            assert samples(registry_of(QueueDepthCollector([queue]))) == {("booksync_broker_up", ()): 0.0}
        with booksync_env(home=os.environ["BOOKSYNC_HOME"]):
            assert samples(registry_of(QueueDepthCollector([queue]))) == {}
    finally:
        client.delete(*redis_queue_keys(queue))
        client.close()


# -- real workers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(task: str, args: list[str], env: dict[str, str]) -> None:
    import json

    result = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "worker", "call", task, "--args", json.dumps(args)],
        env=subprocess_env(env), capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr


def _api_metrics(home: Path, pg_url: str, redis_url: str) -> str:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api.ops import router
    from tests.support.env import booksync_env

    app = FastAPI()
    app.include_router(router)
    with booksync_env(home=str(home), database_url=pg_url, broker_url=redis_url):
        return TestClient(app).get("/metrics").text


def _parse(text: str) -> dict[Any, float]:
    families = text_string_to_metric_families(text)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def _when(key: Any, found: dict[Any, float]) -> dict[Any, float] | None:
    return found if key in found else None


PUSH_COUNTED = ("booksync_pushes_total", (("outcome", "pending"), ("source", "push_task")))


@pytest.mark.slow
def test_a_prefork_worker_counts_syncs_and_pushes_and_the_api_serves_them(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    from models import AccountingSyncedRecord, session_scope, utcnow

    busy = _seed(lease_holder="elsewhere:1", lease_expires_at=utcnow() + timedelta(minutes=10))
    waiting = _seed(status="pending_auth")
    record = AccountingSyncedRecord(organization_id=waiting.organization_id, connection_id=waiting.id, books_id="books-1",
                                    object_type="bill", object_id=uuid.uuid4(), platform="tryton")
    with session_scope() as session:
        session.add(record)
    home = tmp_path / "home"
    env = {"BOOKSYNC_BROKER_URL": redis_url, "BOOKSYNC_DATABASE_URL": pg_url, "BOOKSYNC_HOME": str(home),
           "BOOKSYNC_SECRET_KEY": b",".join(_keys()).decode()}
    worker_log = tmp_path / "worker.log"
    with running(celery_worker_args(concurrency=2, hostname="metrics@%h"), env, worker_log):
        wait_for(lambda: "ready." in worker_log.read_text(), timeout=60, what="the worker")
        assert [p.name for p in (home / "metrics").iterdir()] == [f"metrics@{socket.gethostname()}"]
        _call("tasks.sync_connection", [str(busy.id), "manual"], env)
        _call("tasks.sync_connection", [str(waiting.id), "schedule"], env)
        _call("tasks.push_synced_record", [str(record.id)], env)
        found = wait_for(lambda: _when(PUSH_COUNTED, _parse(_api_metrics(home, pg_url, redis_url))),
                         timeout=60, interval=0.5, what="the worker to count the push")
        assert found[("booksync_syncs_started_total", (("platform", "tryton"),))] == 2
        assert found[("booksync_syncs_finished_total", (("platform", "tryton"), ("status", "busy")))] == 1
        assert found[("booksync_syncs_finished_total", (("platform", "tryton"), ("status", "skipped")))] == 1
        assert found[PUSH_COUNTED] == 1
        assert ("booksync_syncs_failed_total", (("platform", "tryton"),)) not in found
        lag = [k for k in found if k[0] == "booksync_connection_last_pull_age_seconds"]
        assert [dict(k[1])["connection_id"] for k in lag] == [str(busy.id)]
    assert list((home / "metrics").iterdir()) == []


@pytest.mark.slow
def test_a_worker_serves_its_metrics_on_its_own_port(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    from config.settings import Settings

    assert "worker_metrics_port" in Settings.model_fields, (
        "config/settings.py needs worker_metrics_port (BOOKSYNC_WORKER_METRICS_PORT, default None: no exporter) "
        "and worker_metrics_host (default 127.0.0.1): worker/metrics.py reads them"
    )
    waiting = _seed(status="pending_auth")
    port = _free_port()
    env = {"BOOKSYNC_BROKER_URL": redis_url, "BOOKSYNC_DATABASE_URL": pg_url, "BOOKSYNC_HOME": str(tmp_path / "home"),
           "BOOKSYNC_WORKER_METRICS_PORT": str(port)}
    with running(celery_worker_args(concurrency=1, hostname="exporter@%h"), env, tmp_path / "worker.log"):
        exporter = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: httpx.get(exporter, timeout=2).status_code == 200, timeout=60, what="the worker's exporter")
        _call("tasks.sync_connection", [str(waiting.id), "manual"], env)
        key = ("booksync_syncs_finished_total", (("platform", "tryton"), ("status", "skipped")))
        found = wait_for(lambda: _when(key, _parse(httpx.get(exporter, timeout=5).text)),
                         timeout=60, interval=0.5, what="the exporter to show the sync")
        assert found[key] == 1


def _keys() -> list[bytes]:
    from config import get_settings

    return get_settings().fernet_keys()
