"""The engine's ``CredentialStore``: a connection's OAuth tokens refreshed by one worker at a time.

Refresh tokens rotate (Xero, QuickBooks): the token endpoint answers a new refresh token and the old one
stops working (after a grace period at Xero). Two workers refreshing at once would each get a token set
and one of them would store a refresh token the other had already rotated away. So:

1. An atomic ``UPDATE`` takes the connection's refresh lease (``refresh_lease_holder`` /
   ``refresh_lease_expires_at``, migration 0002) when nobody holds it or the holder's lease lapsed; it is
   committed at once, so no transaction (nor row lock) is held while the token endpoint is called.
2. The holder re-reads the stored credentials: when they are no longer the ``stale`` ones, another worker
   refreshed in between and those are returned without a call.
3. Otherwise the holder calls the token endpoint, then commits the new credentials and releases the lease
   in one ``UPDATE``; only then does the provider use the new access token.
4. A worker that finds the lease taken waits (bounded) for the stored credentials to change, and uses
   what the holder stored; if the holder died, its lease lapses and the waiter takes it.

If the commit after a successful refresh fails, the old refresh token still works during Xero's grace
period, so the next refresh (with the old one) recovers.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Callable

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from config.logging import register_secret
from config.secrets import Credentials
from models import AccountingConnection, get_sessionmaker, utcnow
from providers.errors import AuthenticationError, RetryableError

log = structlog.get_logger(__name__)

#: Longer than a token call takes (timeouts included); a dead holder's lease lapses after it.
LEASE_SECONDS = 60.0
#: How long a worker waits for another's refresh before giving up (retryable).
WAIT_SECONDS = 90.0
POLL_SECONDS = 0.1


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DatabaseCredentialStore:
    """Keeps one connection's credentials in its (encrypted) ``credentials`` column."""

    def __init__(
        self,
        connection_id: uuid.UUID,
        *,
        sessions: sessionmaker[Session] | None = None,
        holder: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self.connection_id = connection_id
        self._sessions = sessions
        self.holder = holder or worker_identity()
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds

    def _session(self) -> Session:
        return (self._sessions or get_sessionmaker())()

    def refresh(self, stale: Credentials, refresh: Callable[[Credentials], Credentials]) -> Credentials:
        deadline = time.monotonic() + self.wait_seconds
        waited = False
        while True:
            if self._take_lease():
                try:
                    stored = self._stored()
                    if stored != stale:
                        self._release()
                        log.info("credentials.refreshed_elsewhere", connection_id=str(self.connection_id))
                        return stored
                    fresh = refresh(stale)
                except BaseException:
                    self._release()
                    raise
                self._save_and_release(fresh)
                log.info("credentials.refreshed", connection_id=str(self.connection_id), waited=waited)
                return fresh
            waited = True
            stored = self._stored()
            if stored != stale:
                log.info("credentials.refreshed_elsewhere", connection_id=str(self.connection_id))
                return stored
            if time.monotonic() >= deadline:
                raise RetryableError(
                    "another worker is refreshing this connection's authorization and has not finished; try again",
                    retry_after=self.lease_seconds,
                )
            time.sleep(POLL_SECONDS)

    # -- the lease ----------------------------------------------------------------------------------
    def _take_lease(self) -> bool:
        now = utcnow()
        with self._session() as session:
            result = session.execute(
                update(AccountingConnection)
                .where(
                    AccountingConnection.id == self.connection_id,
                    or_(
                        AccountingConnection.refresh_lease_holder.is_(None),
                        AccountingConnection.refresh_lease_expires_at.is_(None),
                        AccountingConnection.refresh_lease_expires_at < now,
                    ),
                )
                .values(
                    refresh_lease_holder=self.holder,
                    refresh_lease_expires_at=now + dt.timedelta(seconds=self.lease_seconds),
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    def _release(self) -> None:
        with self._session() as session:
            session.execute(
                update(AccountingConnection)
                .where(AccountingConnection.id == self.connection_id,
                       AccountingConnection.refresh_lease_holder == self.holder)
                .values(refresh_lease_holder=None, refresh_lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()

    def _save_and_release(self, fresh: Credentials) -> None:
        register_secret(*fresh.secret_values())
        with self._session() as session:
            result = session.execute(
                update(AccountingConnection)
                .where(AccountingConnection.id == self.connection_id,
                       AccountingConnection.refresh_lease_holder == self.holder)
                .values(credentials=fresh.reveal(), refresh_lease_holder=None, refresh_lease_expires_at=None,
                        updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            session.commit()
        if result.rowcount != 1:  # type: ignore[attr-defined]
            # Our lease lapsed while the token call ran and someone else took it: what we got is still the
            # newest rotation, so store it regardless (the other holder re-reads before refreshing).
            with self._session() as session:
                session.execute(
                    update(AccountingConnection).where(AccountingConnection.id == self.connection_id)
                    .values(credentials=fresh.reveal(), updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
                session.commit()
            log.warning("credentials.lease_lapsed_during_refresh", connection_id=str(self.connection_id))

    def _stored(self) -> Credentials:
        with self._session() as session:
            values = session.scalar(
                select(AccountingConnection.credentials).where(AccountingConnection.id == self.connection_id)
            )
            session.commit()
        if values is None:
            raise AuthenticationError("the connection has no stored authorization (disconnected?); reconnect it")
        credentials = Credentials(values)
        register_secret(*credentials.secret_values())
        return credentials
