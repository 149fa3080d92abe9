"""Fixtures shared by every test: real PostgreSQL and SQLite, real Redis, real Celery workers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.support.databases import empty_all_tables, fresh_postgres_database, migrated_engine, sqlite_url
from tests.support.env import TEST_ALLOWED_ADDRESSES, booksync_env, reset_caches
from tests.support.services import REDIS_TEST_DB, REDIS_URL_BASE, require_postgres, require_redis
# One local Xero and one local QuickBooks for the session (each started on first use); the lines saying what
# they validated are summed at the end (tests/support/report.py).
from tests.conftest_quickbooks import quickbooks_raw, quickbooks_sandbox  # noqa: F401
from tests.conftest_xero import xero_raw, xero_sandbox  # noqa: F401

BACKENDS = ("sqlite", "postgresql")

# Tests must never use a developer's .booksync/ or production variables by accident.
for _key in [k for k in os.environ if k.startswith("BOOKSYNC_") and not k.startswith("BOOKSYNC_TEST_")]:
    del os.environ[_key]
# The test process publishes tasks to the test Redis database (the `redis_url` fixture checks it is up).
TEST_BROKER_URL = f"{REDIS_URL_BASE}/{REDIS_TEST_DB}"
os.environ["BOOKSYNC_BROKER_URL"] = TEST_BROKER_URL
# Every server the tests run is on loopback; production allows public addresses only (tests/faults/test_ssrf.py).
os.environ["BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES"] = TEST_ALLOWED_ADDRESSES


@pytest.fixture(scope="session")
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("booksync-home")


@pytest.fixture(scope="session", autouse=True)
def _test_secret_key(test_home: Path) -> Iterator[None]:
    os.environ["BOOKSYNC_HOME"] = str(test_home)
    reset_caches()
    yield


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database(require_postgres()) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def _migrated(request: pytest.FixtureRequest) -> dict[str, Engine]:
    return {}


def _engine_for(backend: str, request: pytest.FixtureRequest, cache: dict[str, Engine]) -> Engine:
    if backend not in cache:
        url = request.getfixturevalue("postgres_url" if backend == "postgresql" else "sqlite_db_url")
        cache[backend] = migrated_engine(url)
    return cache[backend]


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(db_backend: str, request: pytest.FixtureRequest, _migrated: dict[str, Engine]) -> Iterator[str]:
    """A migrated, empty database on each backend; booksync's own engine points at it."""
    engine = _engine_for(db_backend, request, _migrated)
    empty_all_tables(engine)
    url = engine.url.render_as_string(hide_password=False)
    with booksync_env(database_url=url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL):
        yield url


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, _migrated: dict[str, Engine]) -> Iterator[str]:
    """Like db_url, PostgreSQL only (for what production alone runs on: the API, Redis-backed workers)."""
    engine = _engine_for("postgresql", request, _migrated)
    empty_all_tables(engine)
    url = engine.url.render_as_string(hide_password=False)
    with booksync_env(database_url=url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL):
        yield url


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    from models.db import get_sessionmaker

    with get_sessionmaker()() as db_session:
        yield db_session


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = require_redis()
    redis.Redis.from_url(url).flushdb()
    return url


# -- what the run reports at its end, summed over pytest-xdist's worker processes ----------------


def pytest_configure(config: pytest.Config) -> None:
    from tests.support import report

    if not hasattr(config, "workerinput"):  # the controlling process (or a run without workers)
        report.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.support import report

    report.save()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    import tests.api.test_schemathesis  # noqa: F401  (each registers its line)
    import tests.conftest_quickbooks  # noqa: F401
    import tests.conftest_xero  # noqa: F401
    import tests.faults.tally  # noqa: F401
    from tests.support import report

    for text in report.lines():
        terminalreporter.write_line(text)
