"""QuickBooks' rotating refresh tokens through the engine's credential store: two worker processes that find the
access token expired at once make one refresh at the local QuickBooks, and both go on with the token stored."""

from __future__ import annotations

import multiprocessing
import os
import queue
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from models import AccountingConnection, get_sessionmaker
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.conftest_quickbooks import QuickBooksRaw, expired, quickbooks_settings, refresh_tokens_issued
from tests.support.env import booksync_env
from tests.tasks.engine.test_credentials import make_connection, stored


def _refresh_in_a_worker(env: dict[str, str], connection_id: str, start: Any, results: Any) -> None:
    """A worker process: builds the provider as the engine does, waits for the other, makes a call."""
    os.environ.update(env)
    from providers import oauth
    from tasks.engine.connections import open_provider
    from tests.support.env import reset_caches

    reset_caches()
    refresh = oauth.refresh

    def slow_refresh(*args: Any, **kwargs: Any) -> Any:
        import time

        time.sleep(0.5)  # holds the lease long enough that the other worker surely arrives meanwhile
        return refresh(*args, **kwargs)

    oauth.refresh = slow_refresh  # type: ignore[assignment]
    try:
        with get_sessionmaker()() as session:
            connection = session.get(AccountingConnection, uuid.UUID(connection_id))
            assert connection is not None
            provider = open_provider(connection)
        start.wait(timeout=30)
        with provider:
            name = provider.check().organization_name
        results.put({"pid": os.getpid(), "name": name, "access": provider.credentials["access_token"]})
    except BaseException as exc:  # noqa: BLE001
        results.put({"pid": os.getpid(), "error": repr(exc)})


@pytest.fixture
def qb_env(pg_url: str, redis_url: str, quickbooks_sandbox: SandboxInfo) -> Iterator[dict[str, str]]:
    values = {"database_url": pg_url, "home": os.environ["BOOKSYNC_HOME"], "broker_url": redis_url,
              **quickbooks_settings(quickbooks_sandbox)}
    with booksync_env(**values):
        yield {f"BOOKSYNC_{k.upper()}": v for k, v in values.items()}


def test_two_workers_refreshing_at_once_make_one_refresh_and_both_go_on(
    qb_env: dict[str, str], quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw
) -> None:
    company = quickbooks_raw.new_company("Two Workers Inc", seed=False)
    with get_sessionmaker()() as session:
        connection_id = make_connection(session, expired(company.token).to_credentials(), company.settings,
                                        platform="quickbooks_online")
    assert refresh_tokens_issued(quickbooks_sandbox, company.realm_id) == 1
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_refresh_in_a_worker, args=(qb_env, str(connection_id), start, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        answers = [results.get(timeout=60) for _ in workers]
    except queue.Empty:
        pytest.fail("a worker did not report within 60 s")
    finally:
        for worker in workers:
            worker.join(timeout=30)
    assert all("error" not in a for a in answers), answers
    assert refresh_tokens_issued(quickbooks_sandbox, company.realm_id) == 2, "exactly one refresh reached Intuit"
    row = stored(connection_id)
    assert row.credentials is not None and row.credentials["access_token"] != company.token.access_token
    assert {a["access"] for a in answers} == {row.credentials["access_token"]}, "both use the stored new token"
    assert {a["name"] for a in answers} == {"Two Workers Inc"}
    assert row.refresh_lease_holder is None
    assert row.credentials["extra"]["refresh_hard_expires_at"], "the grant's hard cap is kept with the tokens"
