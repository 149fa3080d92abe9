"""Real processes for the tests (Celery workers, beat, the API), stopped at the end, waited on with bounds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

VENV_BIN = Path(sys.executable).parent
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001
            last_error = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {what}" + (f"; last error: {last_error!r}" if last_error else ""))
        time.sleep(interval)


def subprocess_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSYNC_") or k.startswith("BOOKSYNC_TEST_")}
    env.update(extra)
    env.setdefault("BOOKSYNC_LOG_FORMAT", "json")
    env.setdefault("BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES", "loopback")  # the test servers' addresses
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def running(args: list[str], env: Mapping[str, str], log_path: Path, cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args, env=subprocess_env(env), stdout=log, stderr=subprocess.STDOUT, cwd=cwd or PROJECT_ROOT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM to the main process (a Celery worker stops its own pool; signalling the whole group can
    kill a child holding the pool's queue lock and hang the main process), then SIGKILL to the group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left (orphaned children)
    except ProcessLookupError:
        pass
    if process.poll() is None:
        process.wait(5)


def celery_worker_args(*extra: str, concurrency: int = 2, pool: str = "prefork", hostname: str = "test@%h") -> list[str]:
    return [
        str(VENV_BIN / "celery"), "-A", "worker", "worker", "--loglevel", "INFO", "-P", pool,
        "-c", str(concurrency), "-n", hostname, "--without-mingle", "--without-gossip", *extra,
    ]
