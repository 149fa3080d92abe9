"""Workers killed, the broker restarted: every document ends ``done`` once, with no manual step."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from sandboxes.tryton.sandbox import SandboxInfo
from tests.faults.conftest import booksync_stack, done_count, seed_bills, tryton_count
from tests.faults.tally import TALLY
from tests.support.processes import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BILLS = 120


def _client(broker_url: str) -> Celery:
    """A Celery client of the test's own on the test's own broker (the app's config otherwise)."""
    from worker import app

    client = Celery("fault-client", broker=broker_url, backend=broker_url)
    client.conf.update({k: v for k, v in app.conf.items() if k.startswith(("task_", "result_"))})
    client.conf.update(broker_url=broker_url, result_backend=broker_url)
    return client


def _kill_group(process: Any) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def test_a_worker_killed_mid_push_is_recovered_by_the_next_beat_tick_with_nothing_lost_or_doubled(
    pg_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any, tmp_path: Path
) -> None:
    # posting makes each push slow enough to kill the worker in the middle of the batch
    connection_id, prefix = seed_bills(tryton_sandbox, BILLS, post_documents=True)
    with booksync_stack(tmp_path, pg_url) as stack:
        worker = stack.worker("first")
        stack.beat()
        client = _client(stack.redis.url)
        client.send_task("tasks.sync_connection", args=[str(connection_id), "manual"])
        wait_for(lambda: done_count(connection_id) >= 10, timeout=180, what="the first pushes")
        _kill_group(worker)
        killed_at = time.monotonic()
        pushed_before = done_count(connection_id)
        assert pushed_before < BILLS, "the sync finished before the kill; nothing was tested"

        stack.worker("second")
        wait_for(lambda: done_count(connection_id) == BILLS, timeout=300, interval=1,
                 what=f"all {BILLS} bills done after the kill")
        recovery = time.monotonic() - killed_at
    found = tryton_count(tryton_raw, prefix)
    TALLY.books(expected=BILLS, found=found)
    TALLY.fault(found == BILLS)
    assert found == BILLS, "a bill was created twice (or lost)"
    print(f"\nrecovery after kill -9 mid-push: {recovery:.0f} s ({pushed_before} of {BILLS} were done at the kill)")


def test_the_worker_survives_a_redis_restart_mid_sync_and_serves_on(
    pg_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any, tmp_path: Path
) -> None:
    connection_id, prefix = seed_bills(tryton_sandbox, BILLS, post_documents=True)
    with booksync_stack(tmp_path, pg_url) as stack:
        worker = stack.worker("redis")
        stack.beat()
        client = _client(stack.redis.url)
        client.send_task("tasks.sync_connection", args=[str(connection_id), "manual"])
        wait_for(lambda: done_count(connection_id) >= 10, timeout=180, what="the first pushes")
        stack.redis.stop()
        time.sleep(5)  # the outage itself: Redis is down for five seconds
        stack.redis.start()
        wait_for(lambda: done_count(connection_id) == BILLS, timeout=300, interval=1, what="every bill done")
        assert worker.poll() is None, "the worker exited on the broker's restart"
        # and it still serves: a new task is taken and answered (asked by a new client: this one's result
        # subscription was made before the restart, and whether it comes back is the client's business)
        answer = _client(stack.redis.url).send_task("tasks.ping").get(timeout=60)
        assert answer == "pong"
        log = (tmp_path / "worker-redis.log").read_text()
    assert "Unrecoverable error" not in log
    found = tryton_count(tryton_raw, prefix)
    TALLY.books(expected=BILLS, found=found)
    TALLY.fault(found == BILLS)
    assert found == BILLS
