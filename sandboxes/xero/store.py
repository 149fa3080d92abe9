"""The local Xero's state in one SQLite file in the sandbox directory, so a restarted server keeps it.

Each tenant's objects (contacts, invoices, payments, items, accounts, tax rates, currencies, the
organisation) are stored as the JSON Xero answers with, one row per object, with the columns the API
filters and pages on (``updated_ms``, ``seq``). The OAuth state (connections, grants, codes, token
hashes) and the Idempotency-Key answers live beside them. One connection is shared by the server's
threads behind a lock: writes are serialized, which is how one tenant's books behave anyway.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, base_currency TEXT NOT NULL, country TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    tenant_id TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL, number TEXT, doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_update ON documents (tenant_id, kind, updated_ms, seq);
CREATE INDEX IF NOT EXISTS documents_by_number ON documents (tenant_id, kind, number);
CREATE TABLE IF NOT EXISTS sequences (tenant_id TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name));
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, scopes TEXT NOT NULL, tenant_ids TEXT NOT NULL,
    created_ms INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, tenant_id TEXT NOT NULL, auth_event_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, UNIQUE (client_id, tenant_id)
);
CREATE TABLE IF NOT EXISTS codes (
    code_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    expires_ms INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS access_tokens (
    token_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, issued_ms INTEGER NOT NULL, used_ms INTEGER,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant_id TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
    body TEXT NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (tenant_id, key)
);
"""


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=OFF", "busy_timeout=5000"):
            self._connection.execute(f"PRAGMA {pragma}")
        self._connection.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """One unit of work: everything inside commits together or not at all (nested calls join it)."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._connection.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._connection.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._connection.execute("COMMIT")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._connection.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self._lock:
            self._connection.executemany(sql, rows)

    def one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._connection.execute(sql, tuple(params)).fetchone()

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection.execute(sql, tuple(params)).fetchall()

    # -- tenants ----------------------------------------------------------------------------------

    def add_tenant(self, tenant_id: str, name: str, base_currency: str, country: str, created_ms: int) -> None:
        self.execute("INSERT INTO tenants VALUES (?, ?, ?, ?, ?)", (tenant_id, name, base_currency, country, created_ms))

    def tenant(self, tenant_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM tenants WHERE id = ?", (tenant_id,))

    def tenants(self) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM tenants ORDER BY created_ms, id")

    # -- documents ----------------------------------------------------------------------------------

    def next_sequence(self, tenant_id: str, name: str) -> int:
        with self.transaction():
            self.execute(
                "INSERT INTO sequences VALUES (?, ?, 1) ON CONFLICT (tenant_id, name) DO UPDATE SET value = value + 1",
                (tenant_id, name),
            )
            row = self.one("SELECT value FROM sequences WHERE tenant_id = ? AND name = ?", (tenant_id, name))
            assert row is not None
            return int(row["value"])

    def put(self, tenant_id: str, kind: str, doc_id: str, doc: dict[str, Any], updated_ms: int,
            number: str | None = None) -> None:
        self.put_many(tenant_id, kind, [(doc_id, doc, updated_ms, number)])

    def put_many(self, tenant_id: str, kind: str, rows: list[tuple[str, dict[str, Any], int, str | None]]) -> None:
        """Insert or replace; a replaced object moves to the end of the update order (its ``seq`` is new)."""
        with self.transaction():
            first = self.next_sequence(tenant_id, f"seq:{kind}")
            if len(rows) > 1:
                self.execute("UPDATE sequences SET value = value + ? WHERE tenant_id = ? AND name = ?",
                             (len(rows) - 1, tenant_id, f"seq:{kind}"))
            self.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(tenant_id, kind, doc_id, first + i, updated_ms, number, json.dumps(doc, separators=(",", ":")))
                 for i, (doc_id, doc, updated_ms, number) in enumerate(rows)],
            )

    def get(self, tenant_id: str, kind: str, doc_id: str) -> dict[str, Any] | None:
        row = self.one("SELECT doc FROM documents WHERE tenant_id = ? AND kind = ? AND id = ?",
                       (tenant_id, kind, doc_id.lower()))
        return None if row is None else json.loads(row["doc"])

    def by_number(self, tenant_id: str, kind: str, number: str) -> list[dict[str, Any]]:
        # Without statistics SQLite prefers the primary key's (tenant_id, kind) prefix, a scan of every
        # invoice of the tenant (a 50-invoice batch into a tenant with 5,000 took 300 ms); the index is exact.
        rows = self.all("SELECT doc FROM documents INDEXED BY documents_by_number "
                        "WHERE tenant_id = ? AND kind = ? AND number = ?", (tenant_id, kind, number))
        return [json.loads(row["doc"]) for row in rows]

    def list(self, tenant_id: str, kind: str, *, modified_since_ms: int | None = None) -> list[dict[str, Any]]:
        """A tenant's objects of one kind in update order (oldest first), optionally changed after a time."""
        sql = "SELECT doc FROM documents WHERE tenant_id = ? AND kind = ?"
        params: list[Any] = [tenant_id, kind]
        if modified_since_ms is not None:
            sql += " AND updated_ms > ?"
            params.append(modified_since_ms)
        return [json.loads(row["doc"]) for row in self.all(sql + " ORDER BY updated_ms, seq", params)]

    def count(self, tenant_id: str, kind: str) -> int:
        row = self.one("SELECT count(*) AS n FROM documents WHERE tenant_id = ? AND kind = ?", (tenant_id, kind))
        return int(row["n"]) if row else 0

    # -- idempotency ------------------------------------------------------------------------------

    def remembered(self, tenant_id: str, key: str, since_ms: int) -> sqlite3.Row | None:
        return self.one("SELECT * FROM idempotency WHERE tenant_id = ? AND key = ? AND created_ms > ?",
                        (tenant_id, key, since_ms))

    def remember(self, tenant_id: str, key: str, fingerprint: str, status: int, body: Any, created_ms: int) -> None:
        self.execute("INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
                     (tenant_id, key, fingerprint, status, json.dumps(body), created_ms))
