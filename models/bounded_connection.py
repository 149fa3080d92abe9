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
    """A cursor whose ``executemany`` sends each statement with its own Sync, never a pipeline.

    PostgreSQL arms ``idle_in_transaction_session_timeout`` only when it has answered a Sync (or a simple
    query) and waits for the next message. psycopg's pipelined ``executemany`` writes its statements in
    several sends, then a Sync, then a flush request, and reading the flush request disarms the timeout
    again. A partition that begins anywhere in there (after any of those sends reached the server) leaves
    the session idle in its transaction, holding the rows it updated (the synced records' attempt marks,
    before the commit that follows), for as long as the network is away; seen at 77 s against a 5 s
    timeout on a loaded machine. Each statement in its own round trip ending in a Sync leaves the server
    armed whatever message the partition holds back. It costs one round trip a row, and booksync's
    ``executemany`` calls are bounded by a push chunk (bulk loads go through COPY).
    """

    def executemany(self, query: Any, params_seq: Any, *, returning: bool = False) -> None:
        connection = self._conn
        if connection._pipeline:  # noqa: SLF001 -- a caller's own pipeline: ride it as psycopg does
            super().executemany(query, params_seq, returning=returning)
            return
        try:
            with connection.lock:
                connection.wait(self._executemany_gen_no_pipeline(query, params_seq, returning))
        except errors._NO_TRACEBACK as exc:  # noqa: SLF001 -- as psycopg's own executemany re-raises
            raise exc.with_traceback(None)


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
