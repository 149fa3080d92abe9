"""The ops CLI run as a user runs it: ``booksync ...`` subprocesses on PostgreSQL and Redis.

Data is seeded directly with the models (``pg_url`` points this process at the same database);
the commands that follow a task to its end share one real worker per module (``cli_worker``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import Cli, Result, run_booksync
from tests.support.processes import celery_worker_args, running, wait_for
from worker.config import DEFAULT_QUEUE
from worker.metrics import redis_queue_keys


@pytest.fixture
def cli_env(pg_url: str, redis_url: str) -> dict[str, str]:
    return {
        "BOOKSYNC_DATABASE_URL": pg_url,
        "BOOKSYNC_BROKER_URL": redis_url,
        "BOOKSYNC_HOME": os.environ["BOOKSYNC_HOME"],
        "BOOKSYNC_LOG_FORMAT": "json",
    }


@pytest.fixture
def cli(cli_env: dict[str, str]) -> Cli:
    def run(*args: str, input: str | None = None, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
        return run_booksync(list(args), {**cli_env, **(env or {})}, input=input, timeout=timeout)

    return run


@pytest.fixture(autouse=True)
def _empty_queue(redis_url: str) -> Iterator[None]:
    """Tasks enqueued with no worker to take them must not reach another test's worker."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield
    client.delete(*redis_queue_keys(DEFAULT_QUEUE))
    client.close()


@pytest.fixture(scope="module")
def cli_worker(
    postgres_url: str, redis_url: str, test_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """One real worker on Redis and PostgreSQL for the module's commands that wait for a task."""
    log_path = tmp_path_factory.mktemp("cli-worker") / "worker.log"
    env = {"BOOKSYNC_BROKER_URL": redis_url, "BOOKSYNC_DATABASE_URL": postgres_url, "BOOKSYNC_HOME": str(test_home)}
    with running(celery_worker_args(concurrency=2, hostname="cli@%h"), env, log_path):
        wait_for(lambda: "ready." in log_path.read_text(), timeout=60, interval=0.2, what="the CLI tests' worker")
        yield log_path
