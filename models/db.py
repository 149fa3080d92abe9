"""The engine and sessions, built from the settings once per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import time

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from config.settings import Settings
from models.bounded_connection import bounded_connection_class

#: A pooled PostgreSQL connection idle longer than this is pinged before use (one round trip). One used
#: moments ago is not: a sync checks a connection out a dozen times in a few milliseconds, and a ping
#: each time cost as much as its statements. A connection that broke in that moment fails its statement
#: (an outage: the caller retries), as one breaking between the ping and the statement always could.
PING_AFTER_IDLE_SECONDS = 1.0

_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL with NORMAL sync: a commit does not wait for the disk (durable at the next checkpoint), so the
    # engine can commit every push outcome on its own; a power cut can lose the last outcomes, which the
    # next sync finds by their idempotency keys.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """Bounds on every wait a PostgreSQL call can make, so a dead or partitioned server fails a call in
    seconds instead of pinning a worker (and its open transaction) for hours."""
    statement_ms = int(settings.database_statement_timeout_seconds * 1000)
    idle_ms = int(settings.database_idle_in_transaction_timeout_seconds * 1000)
    tcp_ms = int(settings.database_tcp_user_timeout_seconds * 1000)
    return {
        "connect_timeout": settings.database_connect_timeout_seconds,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        # unacknowledged data (a silent partition while sending) fails the socket after this long
        "tcp_user_timeout": tcp_ms,
        # the server's side of the same socket: a backend blocked sending to a client that went silent
        # (its answer, or the FATAL of the idle timeout, unread) gives up too, and frees its locks; its
        # keepalives end a backend waiting to read from a client a partition cut off (no timeout of its
        # own running) within half a minute, not the kernel's two hours
        "options": f"-c statement_timeout={statement_ms} -c idle_in_transaction_session_timeout={idle_ms} "
                   f"-c tcp_user_timeout={tcp_ms} -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 "
                   "-c tcp_keepalives_count=3",
        "application_name": "booksync",
    }


def make_engine(url: str, settings: Settings | None = None) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    settings = settings or get_settings()
    engine = create_engine(
        url, pool_size=5, max_overflow=5, pool_timeout=10, connect_args=postgres_connect_args(settings),
    )
    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    connection_class = bounded_connection_class(settings.database_statement_timeout_seconds)

    @event.listens_for(engine, "do_connect")
    def _bounded(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        return connection_class.connect(*cargs, **cparams)

    return engine


def _stamp_checkin(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
    """``pool_pre_ping``, for connections idle over ``PING_AFTER_IDLE_SECONDS`` (and new ones are not pinged)."""
    checked_in = record.info.get("checked_in_at")
    if checked_in is None or time.monotonic() - checked_in <= PING_AFTER_IDLE_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:  # noqa: BLE001  (any failure: the pool replaces the connection)
        raise DisconnectionError(f"pooled connection failed its ping: {type(exc).__name__}") from exc


def relax_durability(session: Session) -> None:
    """Let the current transaction's commit return before its WAL reaches the disk (PostgreSQL's
    ``synchronous_commit = off``, for this transaction only).

    The commit is as atomic and as visible to others as ever; only a crash of the database server in
    the next fraction of a second can undo it. For what a crash makes harmless to lose: a lease (lost
    with it, the holder's connection is gone too). A durable commit waits for a disk flush (3 ms on a
    busy machine): four of them made most of a sync with nothing to do.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = make_engine(get_settings().resolved_database_url)
    return _engine


def get_sessionmaker() -> sessionmaker[Session]:
    global _sessionmaker
    if _sessionmaker is None:
        _sessionmaker = sessionmaker(get_engine(), expire_on_commit=False)
    return _sessionmaker


def reset_engine(dispose_pool: bool = True) -> None:
    """Forget the engine: after a fork (the parent's connections must not be shared) or a settings change."""
    global _engine, _sessionmaker
    if _engine is not None and dispose_pool:
        _engine.dispose(close=False)
    _engine = None
    _sessionmaker = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_outage(exc: BaseException) -> bool:
    """Whether a database error means the database is away (unreachable, restarting, dropped the
    connection, out of pool slots) rather than that a statement was wrong."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated

