"""`celery -A worker inspect ping` is answered by a real worker, on Redis and on the embedded default."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.processes import PROJECT_ROOT, VENV_BIN, celery_worker_args, running, subprocess_env, wait_for


def _ping(env: dict[str, str]) -> bool:
    result = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "worker", "inspect", "ping", "-t", "3"],
        env=subprocess_env(env), capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
    )
    return result.returncode == 0 and "pong" in result.stdout


def test_a_worker_on_redis_answers_ping(redis_url: str, pg_url: str, tmp_path: Path) -> None:
    env = {"BOOKSYNC_BROKER_URL": redis_url, "BOOKSYNC_DATABASE_URL": pg_url, "BOOKSYNC_HOME": str(tmp_path)}
    with running(celery_worker_args(concurrency=1), env, tmp_path / "worker.log"):
        assert wait_for(lambda: _ping(env), timeout=60, interval=1, what="a pong from the worker on Redis")


def test_a_worker_on_the_embedded_default_answers_ping(tmp_path: Path) -> None:
    env = {"BOOKSYNC_HOME": str(tmp_path / ".booksync")}
    with running(celery_worker_args(concurrency=1, pool="solo"), env, tmp_path / "worker.log"):
        assert wait_for(lambda: _ping(env), timeout=60, interval=1, what="a pong from the embedded worker")
