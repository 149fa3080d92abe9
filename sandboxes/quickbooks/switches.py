"""Fault switches (``POST /_sandbox/faults``, ``DELETE /_sandbox/faults``) for tests of the adapter's resilience.

Each switch is a JSON object with a ``kind``; those that act on calls match optionally by ``method``,
``path_contains`` and ``realm_id``, and last for ``count`` matching calls (default 1) or ``seconds``:

- ``{"kind": "error", "status": 503, "count": 2}``: answer 5xx (a ``SystemFault``) before doing anything.
- ``{"kind": "latency", "seconds_each": 0.5, "count": 10}``: wait before answering (10+ calls in flight); the
  request is read before the wait, so a client that goes away meanwhile does not stop the work.
- ``{"kind": "cut_after_commit", "count": 1}``: do the write, commit it, then drop the connection mid-answer.
- ``{"kind": "throttle", "count": 5}``: a 429 storm (``ThrottleExceeded``), whatever the real counts.
- ``{"kind": "revoke_grant"}`` / ``{"kind": "expire_refresh_tokens"}`` / ``{"kind": "expire_access_tokens"}``:
  act at once on every grant (or ``realm_id``'s): refreshes answer ``invalid_grant``; calls answer 401.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

CALL_KINDS = ("error", "latency", "cut_after_commit", "throttle")
ACTION_KINDS = ("revoke_grant", "expire_refresh_tokens", "expire_access_tokens")


class SwitchError(ValueError):
    pass


@dataclass
class Switch:
    kind: str
    method: str | None = None
    path_contains: str | None = None
    realm_id: str | None = None
    count: int | None = 1
    until: float | None = None
    status: int = 500
    seconds_each: float = 0.0
    fired: int = 0
    id: int = 0

    def matches(self, method: str, path: str, realm_id: str | None) -> bool:
        if self.until is not None and time.monotonic() > self.until:
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        return ((self.method is None or self.method.upper() == method.upper())
                and (self.path_contains is None or self.path_contains in path)
                and (self.realm_id is None or self.realm_id == realm_id))

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "kind": self.kind, "fired": self.fired, "count": self.count, "status": self.status,
               "seconds_each": self.seconds_each, "method": self.method, "path_contains": self.path_contains,
               "realm_id": self.realm_id}
        if self.until is not None:
            out["seconds_left"] = max(0.0, round(self.until - time.monotonic(), 3))
        return out


@dataclass
class Switchboard:
    switches: list[Switch] = field(default_factory=list)
    _next_id: int = 1

    def add(self, spec: dict[str, Any]) -> Switch:
        kind = spec.get("kind")
        if kind not in CALL_KINDS:
            raise SwitchError(f"kind must be one of {', '.join(CALL_KINDS + ACTION_KINDS)}")
        seconds = spec.get("seconds")
        count = spec.get("count", None if seconds is not None else 1)
        switch = Switch(
            kind=kind, method=spec.get("method"), path_contains=spec.get("path_contains"), realm_id=spec.get("realm_id"),
            count=int(count) if count is not None else None,
            until=time.monotonic() + float(seconds) if seconds is not None else None,
            status=int(spec.get("status", 500)), seconds_each=float(spec.get("seconds_each", 0.0)), id=self._next_id,
        )
        if kind == "error" and not 500 <= switch.status <= 599:
            raise SwitchError("an error switch answers a 5xx status")
        self._next_id += 1
        self.switches.append(switch)
        return switch

    def take(self, kind: str, method: str, path: str, realm_id: str | None) -> Switch | None:
        """The first live switch of ``kind`` matching the call, marked as fired."""
        for switch in self.switches:
            if switch.kind == kind and switch.matches(method, path, realm_id):
                switch.fired += 1
                return switch
        return None

    def clear(self) -> int:
        removed = len(self.switches)
        self.switches.clear()
        return removed

    def to_json(self) -> list[dict[str, Any]]:
        return [switch.to_json() for switch in self.switches]
