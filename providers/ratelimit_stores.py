"""Where the shared rate limiter keeps its counters: Redis, or a SQLite file on one machine.

Each store offers the same small set of atomic operations to ``providers.ratelimit``:

- ``windows``: a ``limits`` storage for the moving windows (``limits``' own Redis storage; for
  SQLite, ``SQLiteWindows`` below, the same moving-window semantics in one transaction);
- leases for the concurrency cap: a lease is taken atomically only while fewer than ``capacity``
  unexpired leases exist under a name, and it expires by itself, so a worker killed with ``kill -9``
  while holding one frees it after ``ttl`` seconds;
- blocks (a 429's ``Retry-After``): "no call under this name before ``until``", never shortened;
- reports: the budget the provider last reported, merged field by field.

Times are wall-clock ``time.time()`` values, as ``limits`` uses them: every host sharing a Redis
store must keep its clock in sync (NTP); a host whose clock is off by *d* seconds shifts the windows
it sees by *d*.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import limits.errors
import redis
from limits.storage import MovingWindowSupport, RedisStorage, Storage

PREFIX = "booksync:ratelimit"


class LimiterStore(Protocol):
    windows: Storage
    #: Exceptions meaning the store itself failed (unreachable, locked for too long).
    errors: tuple[type[BaseException], ...]

    def take_lease(self, name: str, token: str, capacity: int, ttl: float) -> bool: ...
    def release_lease(self, name: str, token: str) -> None: ...
    def leases_held(self, name: str) -> int: ...
    def block(self, name: str, until: float) -> None: ...
    def blocked_until(self, names: Sequence[str]) -> float | None: ...
    def remember(self, name: str, values: Mapping[str, str], ttl: float) -> None: ...
    def recall(self, name: str) -> dict[str, str]: ...


def open_store(url: str) -> LimiterStore:
    """``redis://host:port/db`` (or ``rediss://``) or ``sqlite:///path/to/file``."""
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        return RedisStore(url)
    if scheme == "sqlite":
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    raise ValueError(f"no rate-limit store for {scheme}:// URLs (use redis:// or sqlite:///)")


# -- Redis ------------------------------------------------------------------------------------

_TAKE_LEASE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then
    return 0
end
redis.call('zadd', KEYS[1], ARGV[2], ARGV[4])
redis.call('pexpire', KEYS[1], ARGV[5])
return 1
"""

_BLOCK = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""


class RedisStore:
    """Counters in Redis, shared by every worker on every host; each operation is one atomic script."""

    errors: tuple[type[BaseException], ...] = (redis.RedisError, limits.errors.StorageError)

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)
        self.windows = RedisStorage(url, connection_pool=self.client.connection_pool, key_prefix=f"{PREFIX}:window")
        self._take_lease = self.client.register_script(_TAKE_LEASE)
        self._block = self.client.register_script(_BLOCK)

    def take_lease(self, name: str, token: str, capacity: int, ttl: float) -> bool:
        now = time.time()
        taken = self._take_lease(
            [f"{PREFIX}:inflight:{name}"], [now, now + ttl, capacity, token, max(1, int(ttl * 1000))]
        )
        return bool(taken)

    def release_lease(self, name: str, token: str) -> None:
        self.client.zrem(f"{PREFIX}:inflight:{name}", token)

    def leases_held(self, name: str) -> int:
        return int(self.client.zcount(f"{PREFIX}:inflight:{name}", f"({time.time()}", "+inf"))

    def block(self, name: str, until: float) -> None:
        ttl_ms = max(1, int((until - time.time()) * 1000))
        self._block([f"{PREFIX}:blocked:{name}"], [until, ttl_ms])

    def blocked_until(self, names: Sequence[str]) -> float | None:
        values = [float(v) for v in self.client.mget([f"{PREFIX}:blocked:{n}" for n in names]) if v is not None]
        until = max(values, default=0.0)
        return until if until > time.time() else None

    def remember(self, name: str, values: Mapping[str, str], ttl: float) -> None:
        key = f"{PREFIX}:reported:{name}"
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(values))
            pipe.expire(key, max(1, int(ttl)))
            pipe.execute()

    def recall(self, name: str) -> dict[str, str]:
        raw = self.client.hgetall(f"{PREFIX}:reported:{name}")
        return {k.decode(): v.decode() for k, v in raw.items()}


# -- SQLite -----------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS window_entries (key TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS window_entries_key_at ON window_entries (key, at);
CREATE INDEX IF NOT EXISTS window_entries_expires_at ON window_entries (expires_at);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT NOT NULL, token TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (name, token)
);
CREATE TABLE IF NOT EXISTS blocks (name TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reports (name TEXT PRIMARY KEY, payload TEXT NOT NULL, expires_at REAL NOT NULL);
"""

#: Every this many window writes, a process sweeps rows that expired under keys no longer used.
_SWEEP_EVERY = 500


class SQLiteStore:
    """Counters in one SQLite file, for the embedded default (no Redis): shared by the worker's
    processes on one machine. Writes take SQLite's write lock (``BEGIN IMMEDIATE``), which
    serializes them across processes; WAL keeps reads from waiting on writes. Connections are
    opened per process and thread (a connection must not cross a fork)."""

    errors: tuple[type[BaseException], ...] = (sqlite3.Error, limits.errors.StorageError)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._writes = 0
        self.windows = SQLiteWindows(self)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection().executescript(_SCHEMA)

    def connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def sweep_now_and_then(self, connection: sqlite3.Connection, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            for table in ("window_entries", "counters", "leases", "reports"):
                connection.execute(f"DELETE FROM {table} WHERE expires_at < ?", (now,))  # noqa: S608
            connection.execute("DELETE FROM blocks WHERE until < ?", (now,))

    def take_lease(self, name: str, token: str, capacity: int, ttl: float) -> bool:
        with self.write() as db:
            now = time.time()  # under the write lock: a wait for the lock must not age the lease
            db.execute("DELETE FROM leases WHERE name = ? AND expires_at <= ?", (name, now))
            (held,) = db.execute("SELECT COUNT(*) FROM leases WHERE name = ?", (name,)).fetchone()
            if held >= capacity:
                return False
            db.execute("INSERT INTO leases (name, token, expires_at) VALUES (?, ?, ?)", (name, token, now + ttl))
            return True

    def release_lease(self, name: str, token: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND token = ?", (name, token))

    def leases_held(self, name: str) -> int:
        query = "SELECT COUNT(*) FROM leases WHERE name = ? AND expires_at > ?"
        return int(self.connection().execute(query, (name, time.time())).fetchone()[0])

    def block(self, name: str, until: float) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO blocks (name, until) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET until = MAX(until, excluded.until)",
                (name, until),
            )

    def blocked_until(self, names: Sequence[str]) -> float | None:
        marks = ", ".join("?" for _ in names)
        query = f"SELECT MAX(until) FROM blocks WHERE name IN ({marks}) AND until > ?"  # noqa: S608
        (until,) = self.connection().execute(query, (*names, time.time())).fetchone()
        return float(until) if until is not None else None

    def remember(self, name: str, values: Mapping[str, str], ttl: float) -> None:
        with self.write() as db:
            now = time.time()
            row = db.execute("SELECT payload FROM reports WHERE name = ? AND expires_at > ?", (name, now)).fetchone()
            merged = {**(json.loads(row[0]) if row else {}), **values}
            db.execute(
                "INSERT INTO reports (name, payload, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at",
                (name, json.dumps(merged), now + ttl),
            )

    def recall(self, name: str) -> dict[str, str]:
        query = "SELECT payload FROM reports WHERE name = ? AND expires_at > ?"
        row = self.connection().execute(query, (name, time.time())).fetchone()
        return dict(json.loads(row[0])) if row else {}


class SQLiteWindows(Storage, MovingWindowSupport):
    """A ``limits`` storage on the SQLite store with the semantics of ``limits``' Redis moving window:
    an entry at ``at`` counts while ``at >= now - expiry``; an acquire succeeds when the entries in
    the window plus ``amount`` do not exceed ``limit``; ``get_moving_window`` returns the oldest of
    the newest ``limit`` entries (when the window is full, one slot frees at ``oldest + expiry``).
    The fixed-window methods are there because ``Storage`` requires them."""

    def __init__(self, store: SQLiteStore) -> None:
        super().__init__(None)
        self._store = store

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._store.write() as db:
            now = time.time()  # under the write lock: the entry is stamped when it is counted
            db.execute("DELETE FROM window_entries WHERE key = ? AND at < ?", (key, now - expiry))
            (held,) = db.execute("SELECT COUNT(*) FROM window_entries WHERE key = ?", (key,)).fetchone()
            if held + amount > limit:
                return False
            db.executemany(
                "INSERT INTO window_entries (key, at, expires_at) VALUES (?, ?, ?)",
                [(key, now, now + expiry)] * amount,
            )
            self._store.sweep_now_and_then(db, now)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        query = (
            "SELECT MIN(at), COUNT(*) FROM "
            "(SELECT at FROM window_entries WHERE key = ? AND at >= ? ORDER BY at DESC LIMIT ?)"
        )
        oldest, count = self._store.connection().execute(query, (key, now - expiry, limit)).fetchone()
        return (float(oldest), int(count)) if count else (now, 0)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._store.write() as db:
            now = time.time()
            db.execute("DELETE FROM counters WHERE key = ? AND expires_at <= ?", (key, now))
            db.execute(
                "INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (key, amount, now + expiry),
            )
            return int(db.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()[0])

    def get(self, key: str) -> int:
        query = "SELECT value FROM counters WHERE key = ? AND expires_at > ?"
        row = self._store.connection().execute(query, (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        query = "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?"
        now = time.time()
        row = self._store.connection().execute(query, (key, now)).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._store.connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        with self._store.write() as db:
            removed = db.execute("DELETE FROM window_entries").rowcount + db.execute("DELETE FROM counters").rowcount
        return int(removed)

    def clear(self, key: str) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM window_entries WHERE key = ?", (key,))
            db.execute("DELETE FROM counters WHERE key = ?", (key,))
