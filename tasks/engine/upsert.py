"""Set-based upserts: one round of statements per page of rows, whatever the page's size.

On PostgreSQL the page is COPied into a temporary staging table and merged with one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` (about 1.5x an executemany upsert; see
bench/pull_bench.py). A handful of rows (a connection's tax rates, its ledger accounts) goes in one
``INSERT ... VALUES ... ON CONFLICT`` instead: the staging table's five round trips were most of a
sync with nothing to do (bench/task_throughput_bench.py). SQLite gets an executemany ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

#: Up to this many rows, PostgreSQL gets one multi-row INSERT (bound parameters) instead of COPY and a merge.
FEW_ROWS = 50


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (conflict) DO UPDATE every other given column."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and len(rows) > FEW_ROWS:
        _copy_upsert(session, table, rows, conflict)
        return
    if dialect == "postgresql":
        # as the COPY path: a page lost in a crash is lost with the cursor committed beside it
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    updated = [name for name in rows[0] if name not in conflict and name != "created_at"]
    statement = statement.on_conflict_do_update(
        index_elements=list(conflict), set_={name: statement.excluded[name] for name in updated}
    )
    session.execute(statement, list(rows))


def _copy_upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]) -> None:
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    stage = f"booksync_stage_{table.name}"
    names = ", ".join(columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in conflict and name != "created_at")
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        # A page lost in a crash is lost with the cursor committed beside it, so it is pulled again.
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {names} FROM {table.name} "
            "WITH NO DATA"
        )
        values_of = operator.itemgetter(*columns)
        json_positions = [index for index, name in enumerate(columns) if name in json_columns]
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in rows:
                values = list(values_of(row))
                for index in json_positions:
                    values[index] = json.dumps(values[index])
                copy.write_row(values)
        cursor.execute(
            f"INSERT INTO {table.name} (id, {names}) SELECT gen_random_uuid(), {names} FROM {stage} "
            f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
        )
        cursor.execute(f"DELETE FROM {stage}")
