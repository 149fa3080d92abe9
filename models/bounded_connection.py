"""A psycopg connection that stops waiting for a server that never answers.

``statement_timeout`` bounds what the server does and ``tcp_user_timeout`` what the network does with
bytes it never acknowledged, but neither ends a wait for an answer when the bytes were acknowledged
and then went nowhere: a stalled proxy or middlebox, a connection pooler holding the query, a
partition that began after the request was acknowledged. The server never saw the statement, so its
timeouts do not start; the socket is healthy, so the kernel's do not either, and the worker would
wait until the task's hard time limit. Each wait of this connection ends ``answer_timeout`` seconds
after it began (the statement timeout and a margin, so no statement the server is running is cut
short): the connection is closed and the call raises ``OperationalError``, which the engine treats
as the database being unavailable (a retry later).
"""

from __future__ import annotations

from typing import Any, ClassVar

import psycopg
from psycopg import errors

#: Added to the statement timeout: a statement the server cancels has time to say so.
MARGIN_SECONDS = 10.0


class IdleBoundedCursor(psycopg.Cursor[Any]):
    """A cursor after whose ``executemany`` the server's ``idle_in_transaction_session_timeout`` runs again.

    psycopg runs ``executemany`` as a pipeline that ends with a flush request after its Sync; PostgreSQL
    arms the idle-in-transaction timeout only when it sends ReadyForQuery, and reading the flush request
    disarms it. A session partitioned from booksync right after an ``executemany`` (the synced records'
    attempt marks, before the commit that follows) then stays idle in its transaction, holding those rows'
    locks, for as long as the network is away. One more statement (a round trip of a fraction of a
    millisecond) ends with a ReadyForQuery and re-arms the timeout.
    """

    def executemany(self, query: Any, params_seq: Any, *, returning: bool = False) -> None:
        super().executemany(query, params_seq, returning=returning)
        if self.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            self.connection.execute("SELECT 1")


class BoundedConnection(psycopg.Connection[Any]):
    answer_timeout: ClassVar[float | None] = None

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("cursor_factory", IdleBoundedCursor)
        return super().connect(*args, **kwargs)

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is not None or self.answer_timeout is None:
            return super().wait(gen, interval=interval, timeout=timeout)
        try:
            return super().wait(gen, interval=interval, timeout=self.answer_timeout)
        except errors._WaitTimeout:  # noqa: SLF001 -- psycopg's own wait deadline, raised by its wait loop
            self.pgconn.finish()  # the protocol is mid-exchange: the connection cannot be used again
            raise psycopg.OperationalError(
                f"the database did not answer within {self.answer_timeout:.0f}s; the connection was closed"
            ) from None


def bounded_connection_class(statement_timeout_seconds: float) -> type[BoundedConnection]:
    """A ``BoundedConnection`` whose waits end ``MARGIN_SECONDS`` after the statement timeout."""
    return type("BoundedConnection", (BoundedConnection,),
                {"answer_timeout": statement_timeout_seconds + MARGIN_SECONDS})
