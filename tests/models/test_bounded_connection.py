"""A PostgreSQL call whose bytes were acknowledged and then went nowhere ends, instead of waiting for ever."""

from __future__ import annotations

import tempfile
import time
from contextlib import suppress
from typing import Any

import psycopg
import pytest
from psycopg.pq import Trace
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from models.bounded_connection import BoundedConnection, bounded_connection_class
from models.db import is_outage, make_engine
from tests.support.faults import ProxyMode, tcp_proxy
from tests.support.services import require_postgres


class QuickConnection(BoundedConnection):
    answer_timeout = 1.5


def test_a_call_nothing_answers_fails_within_the_bound_and_the_connection_is_closed() -> None:
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        connection = QuickConnection.connect(host="127.0.0.1", port=proxy.port, dbname="postgres", user="root")
        assert connection.execute("select 1").fetchone() == (1,)
        proxy.set(ProxyMode.BLACKHOLE)
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="did not answer within 2s"):
            connection.execute("select 2")
        assert time.monotonic() - started < 5
        assert connection.closed


def test_a_slow_statement_the_server_runs_is_not_cut_short() -> None:
    connection = QuickConnection.connect(host="127.0.0.1", port=5432, dbname="postgres", user="root")
    with connection:
        assert connection.execute("select pg_sleep(0.5), 1").fetchone() == ("", 1)
    assert bounded_connection_class(60).answer_timeout == 70  # the statement timeout, and a margin


def test_through_the_engine_it_is_an_outage_and_the_pool_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.settings import Settings

    require_postgres()
    monkeypatch.setattr("models.bounded_connection.MARGIN_SECONDS", 0.5)
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        settings = Settings(database_statement_timeout_seconds=1.0)
        engine = make_engine(f"postgresql+psycopg://root@127.0.0.1:{proxy.port}/postgres", settings)
        with engine.connect() as connection:
            assert connection.execute(text("select 1")).scalar() == 1
        proxy.set(ProxyMode.BLACKHOLE)
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised, engine.connect() as connection:
            connection.execute(text("select 2"))
        assert is_outage(raised.value) and time.monotonic() - started < 10
        proxy.set(ProxyMode.PASS)
        with engine.connect() as connection:  # the closed connection was dropped from the pool
            assert connection.execute(text("select 3")).scalar() == 3
        engine.dispose()



def test_the_server_gives_up_an_answer_a_silent_client_never_reads() -> None:
    """booksync's sessions carry the TCP user timeout to the server's side: a backend blocked sending an
    answer into a partition ends (and frees what it holds) instead of waiting for the network to return."""
    import threading

    from config.settings import Settings
    from models.db import postgres_connect_args

    require_postgres()
    settings = Settings(database_tcp_user_timeout_seconds=2.0)
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        connection = psycopg.connect(host="127.0.0.1", port=proxy.port, dbname="postgres", user="root",
                                     **postgres_connect_args(settings))
        assert connection.execute("show tcp_user_timeout").fetchone() in (("2s",), ("2000",))
        pid = connection.pgconn.backend_pid

        def big_answer() -> None:
            with suppress(psycopg.Error):
                connection.execute("select repeat('x', 1000) from generate_series(1, 5000000)").fetchall()

        threading.Thread(target=big_answer, daemon=True).start()
        with psycopg.connect(host="127.0.0.1", port=5432, dbname="postgres", user="root", autocommit=True) as watch:
            def state() -> str | None:
                row = watch.execute("select state from pg_stat_activity where pid = %s", (pid,)).fetchone()
                return row[0] if row else None

            deadline = time.monotonic() + 10
            while state() != "active":  # the answer is on its way
                assert time.monotonic() < deadline
                time.sleep(0.01)
            proxy.set(ProxyMode.BLACKHOLE)  # from now on nothing the server sends is read
            deadline = time.monotonic() + 30
            while state() is not None:
                assert time.monotonic() < deadline, "the backend still waits on the silent client"
                time.sleep(0.2)


def _messages_sent_by_executemany(connection: psycopg.Connection[Any]) -> list[list[str]]:
    """The frontend messages of one ``executemany``, in the runs the client sent between two server answers."""
    connection.execute("create temporary table marks (id int primary key, attempts int)")
    connection.execute("insert into marks select g, 0 from generate_series(1, 5) g")
    with tempfile.TemporaryFile(mode="w+") as trace:
        connection.pgconn.trace(trace.fileno())
        connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        cursor = connection.cursor()
        cursor.executemany("update marks set attempts = attempts + 1 where id = %s", [(i,) for i in range(1, 6)])
        assert cursor.rowcount == 5
        connection.pgconn.untrace()
        trace.seek(0)
        lines = [line.split("\t") for line in trace.read().splitlines() if line]
    runs: list[list[str]] = [[]]
    for direction, _length, message, *_ in lines:
        if direction == "F":
            runs[-1].append(message.strip())
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def test_every_statement_of_an_executemany_ends_in_a_sync_so_a_partition_anywhere_leaves_the_server_armed() -> None:
    """The server arms its idle-in-transaction timeout only after answering a Sync. psycopg's pipeline sends
    several statements before its Sync (and a flush request after it): a partition that holds back the rest
    of such a run leaves the session waiting, unarmed, with the locks it took."""
    require_postgres()
    with BoundedConnection.connect(host="127.0.0.1", port=5432, dbname="postgres", user="root") as connection:
        runs = _messages_sent_by_executemany(connection)
    assert runs and all(run[-1] == "Sync" and run.count("Execute") <= 1 and "Flush" not in run for run in runs), runs
    with psycopg.connect(host="127.0.0.1", port=5432, dbname="postgres", user="root") as plain:
        pipelined = _messages_sent_by_executemany(plain)
    assert any(run.count("Execute") > 1 for run in pipelined), \
        f"psycopg's own executemany no longer pipelines ({pipelined}): IdleBoundedCursor may be unneeded"


def test_a_session_partitioned_right_after_an_executemany_is_ended_by_the_server() -> None:
    """A partition before the commit that follows an executemany cannot leave the rows locked for ever."""
    import threading

    from config.settings import Settings
    from models.db import postgres_connect_args

    require_postgres()
    settings = Settings(database_idle_in_transaction_timeout_seconds=1.0)
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        connection = BoundedConnection.connect(host="127.0.0.1", port=proxy.port, dbname="postgres", user="root",
                                               **postgres_connect_args(settings))
        pid = connection.pgconn.backend_pid
        connection.execute("create temporary table marks (id int primary key, attempts int)")
        connection.execute("insert into marks select g, 0 from generate_series(1, 50) g")
        connection.commit()
        connection.cursor().executemany("update marks set attempts = attempts + 1 where id = %s",
                                        [(i,) for i in range(1, 51)])
        proxy.set(ProxyMode.BLACKHOLE)  # the commit that follows never arrives

        def commit() -> None:
            with suppress(psycopg.Error):
                connection.commit()

        threading.Thread(target=commit, daemon=True).start()
        with psycopg.connect(host="127.0.0.1", port=5432, dbname="postgres", user="root", autocommit=True) as watch:
            deadline = time.monotonic() + 15
            while watch.execute("select 1 from pg_stat_activity where pid = %s", (pid,)).fetchone():
                assert time.monotonic() < deadline, "the session still holds its transaction open"
                time.sleep(0.1)
