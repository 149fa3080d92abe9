"""The sandbox's state in one SQLite file (stdlib ``sqlite3``): companies, entities, deletions, requestids, OAuth.

One connection, used from the server's event loop only, so every request's read-check-write runs without
interleaving. Entities are stored as the JSON the API serves; a deletion keeps a tombstone row
(``deleted = 1``) so CDC can report it. OAuth secrets are stored as SHA-256 digests, never in clear.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DB_FILE = "quickbooks.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS companies (
    realm_id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    created_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entities (
    realm_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_ts REAL NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    name_key TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (realm_id, entity, id)
);
CREATE INDEX IF NOT EXISTS entities_updated ON entities (realm_id, entity, updated_ts);
CREATE INDEX IF NOT EXISTS entities_name ON entities (realm_id, name_key);
CREATE TABLE IF NOT EXISTS sequences (
    realm_id TEXT NOT NULL,
    name TEXT NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (realm_id, name)
);
CREATE TABLE IF NOT EXISTS request_ids (
    realm_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_ts REAL NOT NULL,
    PRIMARY KEY (realm_id, request_id)
);
CREATE TABLE IF NOT EXISTS oauth_codes (
    digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    realm_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_ts REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS oauth_grants (
    grant_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    realm_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_ts REAL NOT NULL,
    hard_expires_ts REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS oauth_tokens (
    digest TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    issued_ts REAL NOT NULL,
    expires_ts REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX IF NOT EXISTS oauth_tokens_grant ON oauth_tokens (grant_id, kind);
CREATE TABLE IF NOT EXISTS applications (
    realm_id TEXT NOT NULL,
    source_entity TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_entity TEXT NOT NULL,
    target_id TEXT NOT NULL,
    amount TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applications_target ON applications (realm_id, target_entity, target_id);
CREATE INDEX IF NOT EXISTS applications_source ON applications (realm_id, source_entity, source_id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _name_key(body: dict[str, Any]) -> str | None:
    """What uniqueness checks look objects up by: a document's number or a list object's name."""
    for field in ("DocNumber", "DisplayName", "Name"):
        value = body.get(field)
        if isinstance(value, str) and value:
            return value.casefold()
    return None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredEntity:
    entity: str
    id: str
    seq: int
    updated_ts: float
    deleted: bool
    body: dict[str, Any]


class Store:
    def __init__(self, directory: Path | str) -> None:
        path = Path(directory) / DB_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        self.db.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value))

    # -- companies ----------------------------------------------------------------------------------

    def add_company(self, realm_id: str, settings: dict[str, Any], created_ts: float) -> None:
        self.db.execute("INSERT INTO companies (realm_id, settings, created_ts) VALUES (?, ?, ?)",
                        (realm_id, json.dumps(settings), created_ts))

    def company(self, realm_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT settings FROM companies WHERE realm_id = ?", (realm_id,)).fetchone()
        return None if row is None else json.loads(row["settings"])

    def companies(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self.db.execute("SELECT realm_id, settings FROM companies ORDER BY created_ts, realm_id").fetchall()
        return [(row["realm_id"], json.loads(row["settings"])) for row in rows]

    # -- entities -----------------------------------------------------------------------------------

    def next_value(self, realm_id: str, name: str, start: int = 1) -> int:
        row = self.db.execute("SELECT next FROM sequences WHERE realm_id = ? AND name = ?", (realm_id, name)).fetchone()
        value = start if row is None else int(row["next"])
        self.db.execute(
            "INSERT INTO sequences (realm_id, name, next) VALUES (?, ?, ?) "
            "ON CONFLICT (realm_id, name) DO UPDATE SET next = excluded.next",
            (realm_id, name, value + 1),
        )
        return value

    def put(self, realm_id: str, entity: str, entity_id: str, body: dict[str, Any], updated_ts: float,
            *, deleted: bool = False) -> None:
        seq = self.next_value(realm_id, "~changes")
        self.db.execute(
            "INSERT INTO entities (realm_id, entity, id, seq, updated_ts, deleted, name_key, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (realm_id, entity, id) DO UPDATE SET seq = excluded.seq, updated_ts = excluded.updated_ts, "
            "deleted = excluded.deleted, name_key = excluded.name_key, body = excluded.body",
            (realm_id, entity, entity_id, seq, updated_ts, int(deleted), _name_key(body),
             json.dumps(body, separators=(",", ":"))),
        )

    def get(self, realm_id: str, entity: str, entity_id: str, *, include_deleted: bool = False) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT body, deleted FROM entities WHERE realm_id = ? AND entity = ? AND id = ?", (realm_id, entity, entity_id)
        ).fetchone()
        if row is None or (row["deleted"] and not include_deleted):
            return None
        return json.loads(row["body"])

    def all(self, realm_id: str, entity: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT body FROM entities WHERE realm_id = ? AND entity = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        rows = self.db.execute(sql + " ORDER BY CAST(id AS INTEGER), id", (realm_id, entity)).fetchall()
        return [json.loads(row["body"]) for row in rows]

    def changed_since(self, realm_id: str, entity: str, since_ts: float, limit: int) -> list[StoredEntity]:
        rows = self.db.execute(
            "SELECT entity, id, seq, updated_ts, deleted, body FROM entities WHERE realm_id = ? AND entity = ? "
            "AND updated_ts >= ? ORDER BY updated_ts, seq LIMIT ?",
            (realm_id, entity, since_ts, limit),
        ).fetchall()
        return [StoredEntity(r["entity"], r["id"], r["seq"], r["updated_ts"], bool(r["deleted"]), json.loads(r["body"]))
                for r in rows]

    def find(self, realm_id: str, entities: tuple[str, ...], field: str, value: str,
             *, exclude: tuple[str, str] | None = None) -> tuple[str, str] | None:
        """An (entity, id) whose top-level ``field`` equals ``value`` case-insensitively (names, DocNumbers)."""
        rows = self.db.execute(
            "SELECT entity, id, body FROM entities WHERE realm_id = ? AND name_key = ? AND deleted = 0",
            (realm_id, value.casefold()),
        ).fetchall()
        for row in rows:
            if row["entity"] not in entities or (exclude is not None and (row["entity"], row["id"]) == exclude):
                continue
            if str(json.loads(row["body"]).get(field, "")).casefold() == value.casefold():
                return row["entity"], row["id"]
        return None

    def count(self, realm_id: str, entity: str) -> int:
        row = self.db.execute("SELECT COUNT(*) AS n FROM entities WHERE realm_id = ? AND entity = ? AND deleted = 0",
                              (realm_id, entity)).fetchone()
        return int(row["n"])

    # -- requestid replay -----------------------------------------------------------------------------

    def replay(self, realm_id: str, request_id: str) -> tuple[int, dict[str, Any]] | None:
        row = self.db.execute("SELECT status, body FROM request_ids WHERE realm_id = ? AND request_id = ?",
                              (realm_id, request_id)).fetchone()
        return None if row is None else (int(row["status"]), json.loads(row["body"]))

    def remember(self, realm_id: str, request_id: str, status: int, body: dict[str, Any], created_ts: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO request_ids (realm_id, request_id, status, body, created_ts) VALUES (?, ?, ?, ?, ?)",
            (realm_id, request_id, status, json.dumps(body), created_ts),
        )
