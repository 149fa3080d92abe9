"""Flower, behind basic auth (FLOWER_BASIC_AUTH, as deploy/ runs it), shows a sync task a real worker ran:
public name, id-only arguments, state.

The worker's own log records about that task come out as JSON lines carrying its id and name.
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import VENV_BIN, celery_worker_args, running, wait_for

pytestmark = pytest.mark.slow

AUTH = ("ops", "flower-test-pass")
BOOKSYNC_TASKS = {
    "tasks.sync_connection", "tasks.push_synced_record", "tasks.disconnect_connection", "tasks.schedule_due_syncs",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed_connection() -> tuple[uuid.UUID, uuid.UUID]:
    from models import AccountingConnection, Organization, session_scope

    org = Organization(id=uuid.uuid4(), name="Acme")
    conn = AccountingConnection(id=uuid.uuid4(), organization_id=org.id, platform="tryton", status="pending_auth",
                                credentials={"username": "admin", "password": "never-shown-in-flower"})
    with session_scope() as session:
        session.add(org)
        session.flush()
        session.add(conn)
    return org.id, conn.id


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_flower_shows_a_sync_task_run_by_a_real_worker(redis_url: str, pg_url: str, tmp_path: Path) -> None:
    _org_id, connection_id = _seed_connection()
    env = {"BOOKSYNC_BROKER_URL": redis_url, "BOOKSYNC_DATABASE_URL": pg_url, "BOOKSYNC_HOME": str(tmp_path / "home"),
           "BOOKSYNC_SECRET_KEY": _secret_key(), "BOOKSYNC_LOG_FORMAT": "json"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    flower = [str(VENV_BIN / "celery"), "-A", "worker", "flower", f"--port={port}", "--address=127.0.0.1"]
    worker_log = tmp_path / "worker.log"
    with running(celery_worker_args(concurrency=1, hostname="flower-test@%h"), env, worker_log), \
            running(flower, {**env, "FLOWER_BASIC_AUTH": f"{AUTH[0]}:{AUTH[1]}"}, tmp_path / "flower.log"):
        wait_for(lambda: httpx.get(f"{base}/healthcheck", timeout=2).status_code == 200, timeout=60,
                 what="Flower to answer")
        wait_for(lambda: "ready." in worker_log.read_text(), timeout=60, what="the worker")
        assert httpx.get(f"{base}/api/tasks", timeout=5).status_code == 401

        sync = _run_booksync(["sync", str(connection_id), "--json"], env)
        task_id = sync["task_id"]

        def succeeded() -> dict[str, Any] | None:
            response = httpx.get(f"{base}/api/task/info/{task_id}", auth=AUTH, timeout=5)
            info = response.json() if response.status_code == 200 else {}
            return info if info.get("state") == "SUCCESS" else None

        info = wait_for(succeeded, timeout=60, interval=0.5, what=f"Flower to show task {task_id} succeeded")
        assert info["name"] == "tasks.sync_connection"
        assert info["args"] == f"['{connection_id}', 'manual']"
        assert info["kwargs"] == "{}"
        assert "'status': 'skipped'" in info["result"]

        listed = httpx.get(f"{base}/api/tasks", auth=AUTH, params={"taskname": "tasks.sync_connection"}, timeout=5)
        assert listed.json()[task_id]["args"] == f"['{connection_id}', 'manual']"
        def registered() -> set[str]:
            workers = httpx.get(f"{base}/api/workers", auth=AUTH, params={"refresh": "1"}, timeout=30).json()
            mine = [w for name, w in workers.items() if name.startswith("flower-test@")]
            return {task for w in mine for task in w.get("registered", [])}

        assert BOOKSYNC_TASKS <= wait_for(registered, timeout=60, interval=1, what="Flower to list the worker's tasks")
        assert "never-shown-in-flower" not in json.dumps(listed.json())

    records = _json_lines(worker_log)
    [done] = [r for r in records if r.get("logger") == "celery.app.trace" and task_id in r["event"]]
    assert done["task_id"] == task_id
    assert done["task_name"] == "tasks.sync_connection"
    assert done["event"].startswith(f"Task tasks.sync_connection[{task_id}] succeeded")
    assert done["level"] == "info" and "timestamp" in done
    assert any(r.get("logger") == "celery.worker.strategy" and task_id in r["event"] for r in records)
    assert "never-shown-in-flower" not in worker_log.read_text()


def _secret_key() -> str:
    """This process's key, so that the worker can read the credentials seeded here."""
    from config import get_settings

    return b",".join(get_settings().fernet_keys()).decode()


def _run_booksync(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    import subprocess

    from tests.support.processes import PROJECT_ROOT, subprocess_env

    result = subprocess.run([str(VENV_BIN / "booksync"), *args], env=subprocess_env(env), capture_output=True,
                            text=True, timeout=60, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
