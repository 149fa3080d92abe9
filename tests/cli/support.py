"""Helpers for the CLI tests: run ``booksync``, read the queue, seed rows with the models."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tests.support.processes import PROJECT_ROOT, VENV_BIN, subprocess_env, wait_for
from worker.config import DEFAULT_QUEUE
from worker.metrics import redis_queue_keys


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


Cli = Callable[..., Result]


def run_booksync(args: list[str], env: dict[str, str], *, input: str | None = None, timeout: float = 120) -> Result:
    completed = subprocess.run(
        [str(VENV_BIN / "booksync"), *args], env=subprocess_env(env), input=input, capture_output=True, text=True,
        timeout=timeout, cwd=PROJECT_ROOT,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def queued_tasks(redis_url: str) -> list[dict[str, Any]]:
    """The task messages waiting in the queue: name, id and arguments."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        raw = [m for key in redis_queue_keys(DEFAULT_QUEUE) for m in client.lrange(key, 0, -1)]
    finally:
        client.close()
    tasks = []
    for message in raw:
        envelope = json.loads(message)
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        tasks.append({"name": envelope["headers"]["task"], "id": envelope["headers"]["id"], "args": args})
    return tasks




def add(*rows: Any) -> None:
    from models import session_scope

    with session_scope() as session:
        for row in rows:
            session.add(row)
            session.flush()


def organization(name: str = "Acme") -> Any:
    from models import Organization

    org = Organization(id=uuid.uuid4(), name=name)
    add(org)
    return org


def connection(org: Any, *, status: str = "connected", platform: str = "tryton", **values: Any) -> Any:
    from models import AccountingConnection

    row = AccountingConnection(id=uuid.uuid4(), organization_id=org.id, platform=platform, status=status, **values)
    add(row)
    return row


def synced_record(conn: Any, *, object_type: str = "bill", sync_status: str = "done", age: timedelta = timedelta(0),
                  **values: Any) -> Any:
    from models import AccountingSyncedRecord, utcnow

    at: datetime = utcnow() - age
    row = AccountingSyncedRecord(
        id=uuid.uuid4(), organization_id=conn.organization_id, connection_id=conn.id, books_id=conn.books,
        object_type=object_type,
        object_id=uuid.uuid4(), platform=conn.platform, sync_status=sync_status, created_at=at, updated_at=at,
        **values,
    )
    add(row)
    return row


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    return wait_for(condition, timeout=timeout, interval=0.2, what=what)
