"""How often a task message was delivered, in a store all workers share.

With acks-late, a task that kills its worker is redelivered; without a bound it would kill workers
forever. The count is kept per (task id, retry number) because Celery's own retries reuse the id.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from config import get_settings

TTL_SECONDS = 7 * 86_400


def count_delivery(task_id: str, retries: int) -> int:
    """Record one more delivery and return how many there have been."""
    settings = get_settings()
    key = f"booksync:deliveries:{task_id}:{retries}"
    if settings.uses_filesystem_broker:
        return _count_in_file(settings.home / "deliveries", key)
    client = _redis(settings.resolved_broker_url)
    with client.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, TTL_SECONDS)
        count, _ = pipe.execute()
    return int(count)


_clients: dict[tuple[int, str], Any] = {}


def _redis(url: str) -> Any:
    """One client (and connection pool) per process: a new one per task cost a connection setup, 2 ms."""
    import redis

    key = (os.getpid(), url)
    if key not in _clients:
        _clients.clear()  # a forked child must not use its parent's connections
        _clients[key] = redis.Redis.from_url(url, socket_timeout=5)
    return _clients[key]


def _count_in_file(folder: Path, key: str) -> int:
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha256(key.encode()).hexdigest()[:32]
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        count = int(handle.read() or 0) + 1
        handle.seek(0)
        handle.truncate()
        handle.write(str(count))
    return count
