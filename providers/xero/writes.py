"""Writes to Xero: every one carries an ``Idempotency-Key`` (a SHA-256 of the exact request), and batches are sent
with ``summarizeErrors=false`` so each element comes back with its own ``ValidationErrors``.

Xero answers a request whose ``Idempotency-Key`` it has seen (within its retention) with the first answer, without
doing it again: retrying the same bytes after a lost answer is safe. A request that differs in any byte gets
another key, so a changed retry is a new request (the adapters look keys up for those: ``may_exist``).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from providers.errors import ProviderError
from providers.xero.client import XeroClient, dumps


def request_key(method: str, path: str, query: str, body: Any) -> str:
    """The Idempotency-Key of a request: the same bytes give the same key (Xero allows 128 characters)."""
    digest = hashlib.sha256(f"{method} {path}?{query}\n".encode() + dumps(body)).hexdigest()
    return f"booksync-{digest}"


def write(client: XeroClient, method: str, path: str, body: Any, *, what: str,
          params: dict[str, str] | None = None) -> Any:
    """One write with its Idempotency-Key; the decoded answer."""
    return client.call(method, path, what=what, params=params, body=body,
                       headers={"Idempotency-Key": request_key(method, path, urlencode(params or {}), body)})


def write_batch(client: XeroClient, path: str, collection: str, elements: list[dict[str, Any]], *, what: str,
                method: str = "POST") -> Any:
    """``{collection: elements}`` in one call with ``summarizeErrors=false``; the answer's list of elements."""
    answer = write(client, method, path, {collection: elements}, what=what, params={"summarizeErrors": "false"})
    if not isinstance(answer, dict):
        raise ProviderError(f"Xero's answer to {what} is not an object")
    return answer.get(collection)
