"""Fixtures for tests that need a real Tryton server, and a raw JSON-RPC client to check it with.

The template database is prepared once (cached under ``.booksync/cache`` by trytond version, the
sandbox's source and today's date, so a rerun the same day starts in about a second); every test
module that asks for ``tryton_sandbox`` gets its own server on a copy of it, stopped at the end.
A server that cannot start fails the tests, it never skips them.

Use from a conftest: ``from tests.conftest_tryton import tryton_template, tryton_sandbox, tryton_raw``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandboxes.tryton.sandbox import SandboxError, SandboxInfo, cached_template, start_sandbox, stop_sandbox


def _decode(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "datetime":
        return dt.datetime(*(obj[k] for k in ("year", "month", "day", "hour", "minute", "second", "microsecond")))
    return obj


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(type(value).__name__)


class TrytonRaw:
    """A deliberately separate, minimal JSON-RPC client: the oracle the adapter is checked against."""

    def __init__(self, info: SandboxInfo) -> None:
        self.endpoint = f"{info.url}/{info.database}/rpc/"
        self.client = httpx.Client(timeout=30.0)
        self._id = 0
        user_id, session = self.call("common.db.login", info.username, {"password": info.password}, "en")[:2]
        self.user_id = user_id
        token = base64.b64encode(f"{info.username}:{user_id}:{session}".encode()).decode()
        self.client.headers["Authorization"] = f"Session {token}"
        self.context = {"company": self.call("model.res.user.get_preferences", True, {})["company"]}

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"id": self._id, "method": method, "params": list(params)}, default=_encode)
        response = self.client.post(self.endpoint, content=body, headers={"Content-Type": "application/json"})
        response.raise_for_status()
        payload = json.loads(response.content, object_hook=_decode)
        if "error" in payload:
            raise RuntimeError(f"{method}: {payload['error'][:2]}")
        return payload["result"]

    def model(self, model: str, method: str, *params: Any) -> Any:
        return self.call(f"model.{model}.{method}", *params, self.context)

    def search_read(self, model: str, domain: list[Any], fields: list[str], order: Any = None) -> list[dict[str, Any]]:
        return self.model(model, "search_read", domain, 0, None, order or [["id", "ASC"]], fields)

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def tryton_template() -> Path:
    try:
        return cached_template()
    except SandboxError as exc:
        pytest.fail(f"cannot prepare the Tryton template database: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def tryton_sandbox(tryton_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    directory = tmp_path_factory.mktemp("tryton")
    try:
        info = start_sandbox(directory, template=tryton_template)
    except SandboxError as exc:
        pytest.fail(f"cannot start the Tryton sandbox: {exc}", pytrace=False)
    try:
        yield info
    finally:
        stop_sandbox(directory)


@pytest.fixture(scope="module")
def tryton_raw(tryton_sandbox: SandboxInfo) -> Iterator[TrytonRaw]:
    raw = TrytonRaw(tryton_sandbox)
    yield raw
    raw.close()
