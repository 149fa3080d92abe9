"""The broker restarted under beat: beat keeps running and keeps emitting, and what falls due later syncs.

Beat is the only process that knows when connections are due; if a broker restart ended it, no sync
would start again until a person restarted it. The test's own redis-server is stopped for a few seconds
while beat and a worker run, then started again; a connection made due only after that must be synced
with no process restarted by the test.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from models import AccountingConnection
from models.db import get_sessionmaker
from sandboxes.tryton.sandbox import SandboxInfo
from tests.faults.conftest import booksync_stack, done_count, seed_bills, tryton_count
from tests.faults.tally import TALLY
from tests.support.processes import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

BILLS = 5
SENT = "Sending due task schedule-due-syncs"


def _make_due(connection_id: Any) -> None:
    with get_sessionmaker()() as session:
        session.execute(update(AccountingConnection).where(AccountingConnection.id == connection_id)
                        .values(next_sync_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()


def _ticks_received(worker_log: Path) -> set[str]:
    """Ids of the beat ticks (``tasks.schedule_due_syncs``) the worker has received."""
    return set(re.findall(r"Task tasks\.schedule_due_syncs\[([0-9a-f-]+)\] received", worker_log.read_text()))


def test_beat_survives_a_redis_restart_and_what_falls_due_afterwards_is_synced(
    pg_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any, tmp_path: Path
) -> None:
    connection_id, prefix = seed_bills(tryton_sandbox, BILLS)  # due in an hour: nothing syncs it yet
    with booksync_stack(tmp_path, pg_url) as stack:
        worker = stack.worker("beat")
        beat = stack.beat()
        log = tmp_path / "beat.log"
        worker_log = tmp_path / "worker-beat.log"
        wait_for(lambda: log.read_text().count(SENT) >= 2, timeout=30, what="beat's first ticks")

        stack.redis.stop()
        down_at = log.read_text().count(SENT)
        time.sleep(6)  # the outage itself: Redis is away for two of beat's ticks
        assert beat.poll() is None, "beat exited while the broker was down:\n" + log.read_text()[-3000:]
        ticks_before = _ticks_received(worker_log)
        stack.redis.start()
        restarted = time.monotonic()
        # the restarted redis-server is empty: a tick the worker receives from now on was sent by beat after it
        wait_for(lambda: _ticks_received(worker_log) - ticks_before, timeout=30,
                 what="a tick beat sent to the restarted redis-server, received by the worker")
        emitted_after = time.monotonic() - restarted

        _make_due(connection_id)
        wait_for(lambda: done_count(connection_id) == BILLS, timeout=60, interval=0.5,
                 what=f"the {BILLS} bills of a connection due after the restart")
        assert beat.poll() is None and worker.poll() is None, "a process exited on the broker's restart"
        text = log.read_text()
    assert text.count(SENT) > down_at
    # the only errors are the ticks beat could not send while Redis was away (each logged with its traceback,
    # and beat went on): nothing that ends beat ("beat raised exception", critical) or anything else
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    errors = [r["event"] for r in records if r.get("level") in ("error", "critical")]
    assert all(e.startswith("Message Error: Couldn't apply scheduled task") for e in errors), errors
    assert "raised exception" not in text
    found = tryton_count(tryton_raw, prefix)
    TALLY.books(expected=BILLS, found=found)
    TALLY.fault(found == BILLS)
    assert found == BILLS
    print(f"\nbeat survived a redis-server restart: {len(errors)} tick(s) not sent while it was down, the next one "
          f"received by the worker {emitted_after:.1f} s after it came back")
