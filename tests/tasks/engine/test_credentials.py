"""The engine's credential store: one refresher per connection across processes, rotation stored first."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import queue
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from config.secrets import Credentials
from models import AccountingConnection, Organization, get_sessionmaker, utcnow
from providers.errors import AuthenticationError, RetryableError
from sandboxes.xero.sandbox import SandboxInfo
from tasks.engine.credentials import DatabaseCredentialStore
from tests.conftest_xero import XeroRaw, expired, xero_settings
from tests.support.env import booksync_env


def make_connection(session: Session, credentials: Credentials, settings: dict[str, Any] | None = None,
                    platform: str = "xero") -> uuid.UUID:
    organization = Organization(id=uuid.uuid4(), name="Refreshing Co")
    connection = AccountingConnection(
        id=uuid.uuid4(), organization_id=organization.id, platform=platform, status="connected",
        settings=settings or {}, credentials=credentials.reveal(), errors=[], cursors={}, connected_at=utcnow(),
    )
    session.add(organization)
    session.flush()
    session.add(connection)
    session.commit()
    return connection.id


def stored(connection_id: uuid.UUID) -> AccountingConnection:
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, connection_id)
        assert connection is not None
        session.expunge(connection)
        return connection


OLD = Credentials(access_token="old-access", refresh_token="old-refresh", expires_at="2000-01-01T00:00:00+00:00")
NEW = Credentials(access_token="new-access", refresh_token="new-refresh", expires_at="2100-01-01T00:00:00+00:00")


def test_the_refresh_is_stored_before_it_is_returned_and_the_lease_released(session: Session) -> None:
    connection_id = make_connection(session, OLD)
    store = DatabaseCredentialStore(connection_id)
    seen: list[dict[str, Any]] = []

    def refresh(current: Credentials) -> Credentials:
        during = stored(connection_id)
        seen.append({"holder": during.refresh_lease_holder, "credentials": during.credentials})
        return NEW

    assert store.refresh(OLD, refresh) == NEW
    assert seen == [{"holder": store.holder, "credentials": OLD.reveal()}], "the lease is committed before the call"
    after = stored(connection_id)
    assert after.credentials == NEW.reveal()
    assert after.refresh_lease_holder is None and after.refresh_lease_expires_at is None


def test_credentials_refreshed_elsewhere_are_used_without_a_call(session: Session) -> None:
    connection_id = make_connection(session, NEW)
    calls: list[Credentials] = []
    assert DatabaseCredentialStore(connection_id).refresh(OLD, lambda c: calls.append(c) or OLD) == NEW
    assert calls == []
    assert stored(connection_id).refresh_lease_holder is None


def test_a_failed_refresh_releases_the_lease_and_raises(session: Session) -> None:
    connection_id = make_connection(session, OLD)

    def refuse(current: Credentials) -> Credentials:
        raise AuthenticationError("reconnect Xero")

    with pytest.raises(AuthenticationError):
        DatabaseCredentialStore(connection_id).refresh(OLD, refuse)
    after = stored(connection_id)
    assert after.refresh_lease_holder is None and after.credentials == OLD.reveal()


def test_a_dead_holders_lease_lapses_and_a_live_one_is_waited_for(session: Session) -> None:
    connection_id = make_connection(session, OLD)
    with get_sessionmaker()() as other:
        row = other.get(AccountingConnection, connection_id)
        assert row is not None
        row.refresh_lease_holder = "dead-worker"
        row.refresh_lease_expires_at = utcnow() - dt.timedelta(seconds=1)
        other.commit()
    assert DatabaseCredentialStore(connection_id).refresh(OLD, lambda c: NEW) == NEW

    with get_sessionmaker()() as other:
        row = other.get(AccountingConnection, connection_id)
        assert row is not None
        row.credentials = OLD.reveal()
        row.refresh_lease_holder = "busy-worker"
        row.refresh_lease_expires_at = utcnow() + dt.timedelta(minutes=5)
        other.commit()
    with pytest.raises(RetryableError):
        DatabaseCredentialStore(connection_id, wait_seconds=0.3).refresh(OLD, lambda c: NEW)
    assert stored(connection_id).credentials == OLD.reveal()


# -- two worker processes, the local Xero ------------------------------------------------------------


def _refresh_in_a_worker(env: dict[str, str], connection_id: str, start: Any, results: Any) -> None:
    """A worker process: builds the provider as the engine does, waits for the other, makes a call."""
    os.environ.update(env)
    from providers import oauth
    from tasks.engine.connections import open_provider
    from tests.support.env import reset_caches

    reset_caches()
    slow = oauth.refresh

    def slow_refresh(*args: Any, **kwargs: Any) -> Any:
        import time

        time.sleep(0.5)  # holds the lease long enough that the other worker surely arrives meanwhile
        return slow(*args, **kwargs)

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
def xero_env(pg_url: str, xero_sandbox: SandboxInfo) -> Iterator[dict[str, str]]:
    values = {"database_url": pg_url, "home": os.environ["BOOKSYNC_HOME"], **xero_settings(xero_sandbox)}
    with booksync_env(**values):
        yield {f"BOOKSYNC_{k.upper()}": v for k, v in values.items()}


def test_two_workers_refreshing_at_once_make_one_refresh_call_and_both_go_on(
    xero_env: dict[str, str], xero_raw: XeroRaw
) -> None:
    tenant = xero_raw.new_tenant("Two Workers Organisation", seed=False)
    with get_sessionmaker()() as session:
        connection_id = make_connection(session, expired(tenant.token).to_credentials(), tenant.settings)
    before = xero_raw.stats()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_refresh_in_a_worker, args=(xero_env, str(connection_id), start, results))
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
    after = xero_raw.stats()
    assert after["tokens_issued"] - before["tokens_issued"] == 1, "exactly one refresh reached the local Xero"
    assert after.get("token_invalid_grant", 0) == before.get("token_invalid_grant", 0)
    row = stored(connection_id)
    assert row.credentials is not None and row.credentials["access_token"] != tenant.token.access_token
    assert {a["access"] for a in answers} == {row.credentials["access_token"]}, "both use the stored new token"
    assert {a["name"] for a in answers} == {"Two Workers Organisation"}
    assert row.refresh_lease_holder is None
