"""The real services the tests use; a missing one fails the run with how to start it."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_ADMIN_URL = os.environ.get("BOOKSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL_BASE = os.environ.get("BOOKSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379")
def _redis_test_db() -> int:
    """``BOOKSYNC_TEST_REDIS_DB`` (11), plus the pytest-xdist worker's number: each worker its own database."""
    base = int(os.environ.get("BOOKSYNC_TEST_REDIS_DB", "11"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return (base + index) % 16


REDIS_TEST_DB = _redis_test_db()

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) == 0


def require_postgres() -> str:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({type(exc).__name__}). Start it with:\n"
            f"    {START_POSTGRES}\n(or point BOOKSYNC_TEST_POSTGRES_URL at one)",
            pytrace=False,
        )
    return POSTGRES_ADMIN_URL


def require_redis() -> str:
    import redis

    url = f"{REDIS_URL_BASE}/{REDIS_TEST_DB}"
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Redis is not reachable at {url} ({type(exc).__name__}). Start it with:\n    {START_REDIS}\n"
            "(or point BOOKSYNC_TEST_REDIS_URL at one)",
            pytrace=False,
        )
    return url
