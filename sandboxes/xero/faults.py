"""Fault switches: what a flaky Xero does to a client, on demand (``POST /_sandbox/faults``).

A fault is a JSON object with a ``kind``:

- ``{"kind": "error", "status": 503, "count": 2}``: the next calls answer that 5xx (Xero's
  ``{"Title": "Service Unavailable", ...}``) without doing anything;
- ``{"kind": "latency", "seconds": 0.5}``: each call waits that long first (in flight meanwhile; its request
  is read before the wait, so a client that goes away meanwhile does not stop the work);
- ``{"kind": "cut_after_commit", "count": 1}``: the call does its work and commits it, then the
  connection is closed without an answer (a lost response: retry with the same Idempotency-Key);
- ``{"kind": "rate_limit_storm", "count": 10, "problem": "minute", "retry_after": 1}``: 429s;
- ``{"kind": "revoke_grants"}``, ``{"kind": "expire_refresh_tokens"}``, ``{"kind": "expire_access_tokens"}``:
  act at once on the OAuth state (refreshes answer ``invalid_grant``; API calls answer 401).

``error``, ``latency``, ``cut_after_commit`` and ``rate_limit_storm`` may be narrowed with ``method``
and ``path`` (a case-insensitive substring of the request path, e.g. ``"/Invoices"``); without
``count`` they last until ``DELETE /_sandbox/faults``.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from pydantic import BaseModel, Field

ONE_SHOT = ("revoke_grants", "expire_refresh_tokens", "expire_access_tokens")


class Fault(BaseModel):
    kind: Literal["error", "latency", "cut_after_commit", "rate_limit_storm",
                  "revoke_grants", "expire_refresh_tokens", "expire_access_tokens"]
    method: str | None = None
    path: str | None = None
    count: int | None = Field(default=None, ge=1)
    status: int = Field(default=503, ge=500, le=599)
    seconds: float = Field(default=0.0, ge=0, le=60)
    problem: Literal["minute", "day", "concurrent", "appminute"] = "minute"
    retry_after: int = Field(default=1, ge=0)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and (
            self.path is None or self.path.lower() in path.lower())


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[Fault] = []
        self.fired: dict[str, int] = {}

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._active.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._active.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.model_dump(exclude_none=True) for fault in self._active]

    def take(self, kind: str, method: str, path: str) -> Fault | None:
        """The first matching fault of that kind, counted down (and dropped when used up)."""
        with self._lock:
            for fault in self._active:
                if fault.kind == kind and fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._active.remove(fault)
                    self.fired[kind] = self.fired.get(kind, 0) + 1
                    return fault
            return None

    def latency(self, method: str, path: str) -> float:
        fault = self.take("latency", method, path)
        return fault.seconds if fault else 0.0
