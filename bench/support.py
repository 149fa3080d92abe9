"""Shared set-up for benchmarks: a throwaway PostgreSQL database, a served app, timing helpers."""

from __future__ import annotations

import os
import resource
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("BOOKSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A migrated PostgreSQL database that is dropped afterwards; booksync's settings point at it."""
    from config.settings import reset_settings_cache
    from models.db import reset_engine
    from models.migrate import upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    os.environ["BOOKSYNC_DATABASE_URL"] = url
    reset_settings_cache()
    reset_engine()
    try:
        upgrade(url)
        yield url
    finally:
        reset_engine()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """A uvicorn process (the API's ``booksync api``, or the floor app) on ``port``, until the block ends."""
    process = subprocess.Popen(args, cwd=PROJECT_ROOT, env={**env, "BOOKSYNC_LOG_LEVEL": "WARNING"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{args[0]} did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(20)
