"""Intuit's throttles per realm, enforced, and a record of every call for tests and benchmarks to audit.

Intuit's "API call limits and throttles" page: 500 requests a minute per realm, 10 at once per realm and app
(Intuit's 2016 concurrency policy: "more than 10 concurrent ... will get a 429"; the sandbox serves one app,
so it counts per realm), and for ``/batch`` 120 requests a minute per realm and 40 per realm and app; a
batch request also counts as one of the 500. A call
over a limit is answered 429 with a ``ThrottleExceeded`` Fault (003001) and is not counted as accepted.
Windows slide over the last minute. ``time_scale`` shrinks every window (``10`` → 500 per 6 s) so a
benchmark can saturate the limits quickly; it never changes the counts.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sandboxes.quickbooks import faults


@dataclass(frozen=True, slots=True)
class Limits:
    per_minute: int = 500
    in_flight: int = 10
    batch_per_minute: int = 120
    batch_per_minute_per_app: int = 40
    time_scale: float = 1.0

    @property
    def window(self) -> float:
        return 60.0 / self.time_scale


@dataclass
class RealmRecord:
    accepted: deque[float] = field(default_factory=deque)
    batches: deque[float] = field(default_factory=deque)
    app_batches: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    in_flight: int = 0
    calls: int = 0
    batch_calls: int = 0
    throttled: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: int = 0
    max_in_flight_attempted: int = 0
    peak_in_window: int = 0
    peak_batch_in_window: int = 0


class Throttle:
    """Admission per realm. ``enter`` raises the 429 Fault or admits; ``leave`` ends an admitted call."""

    def __init__(self, limits: Limits, *, keep_log: int = 1_000_000) -> None:
        self.limits = limits
        self.realms: dict[str, RealmRecord] = defaultdict(RealmRecord)
        self.log: deque[tuple[float, str, str, str]] = deque(maxlen=keep_log)
        self.started = time.monotonic()

    def _trim(self, window: deque[float], now: float) -> None:
        edge = now - self.limits.window
        while window and window[0] <= edge:
            window.popleft()

    def enter(self, realm_id: str, client_id: str, *, batch: bool, method: str, path: str) -> None:
        now = time.monotonic()
        record = self.realms[realm_id]
        limits = self.limits
        record.max_in_flight_attempted = max(record.max_in_flight_attempted, record.in_flight + 1)
        self._trim(record.accepted, now)
        reason = None
        if record.in_flight >= limits.in_flight:
            reason = "in_flight"
        elif len(record.accepted) >= limits.per_minute:
            reason = "per_minute"
        elif batch:
            self._trim(record.batches, now)
            app_window = record.app_batches[client_id]
            self._trim(app_window, now)
            if len(record.batches) >= limits.batch_per_minute:
                reason = "batch_per_minute"
            elif len(app_window) >= limits.batch_per_minute_per_app:
                reason = "batch_per_minute_per_app"
        if reason is not None:
            record.throttled[reason] += 1
            raise faults.throttled(reason)
        record.accepted.append(now)
        record.calls += 1
        record.peak_in_window = max(record.peak_in_window, len(record.accepted))
        if batch:
            record.batches.append(now)
            record.app_batches[client_id].append(now)
            record.batch_calls += 1
            record.peak_batch_in_window = max(record.peak_batch_in_window, len(record.batches))
        record.in_flight += 1
        record.max_in_flight = max(record.max_in_flight, record.in_flight)
        self.log.append((round(now - self.started, 6), realm_id, method, path))

    def leave(self, realm_id: str) -> None:
        self.realms[realm_id].in_flight -= 1

    def throttle_fault(self, realm_id: str, reason: str) -> faults.QuickBooksFault:
        """A 429 the fault switches ask for, counted like a real one."""
        self.realms[realm_id].throttled[reason] += 1
        return faults.throttled(reason)

    def stats(self) -> dict[str, Any]:
        realms = self.realms
        return {
            "limits": {"per_minute": self.limits.per_minute, "in_flight": self.limits.in_flight,
                       "batch_per_minute": self.limits.batch_per_minute,
                       "batch_per_minute_per_app": self.limits.batch_per_minute_per_app,
                       "window_seconds": self.limits.window, "time_scale": self.limits.time_scale},
            "calls": {realm: r.calls for realm, r in realms.items()},
            "batch_calls": {realm: r.batch_calls for realm, r in realms.items()},
            "throttled": {realm: dict(r.throttled) for realm, r in realms.items() if r.throttled},
            "throttled_total": sum(sum(r.throttled.values()) for r in realms.values()),
            "in_flight": {realm: r.in_flight for realm, r in realms.items()},
            "max_in_flight": {realm: r.max_in_flight for realm, r in realms.items()},
            "max_in_flight_attempted": {realm: r.max_in_flight_attempted for realm, r in realms.items()},
            "peak_in_window": {realm: r.peak_in_window for realm, r in realms.items()},
            "peak_batch_in_window": {realm: r.peak_batch_in_window for realm, r in realms.items()},
        }

    def calls(self, realm_id: str | None = None) -> list[dict[str, Any]]:
        return [{"t": t, "realm_id": realm, "method": method, "path": path}
                for t, realm, method, path in self.log if realm_id is None or realm == realm_id]

    def reset(self) -> None:
        in_flight = {realm: record.in_flight for realm, record in self.realms.items()}
        self.realms = defaultdict(RealmRecord)
        for realm, count in in_flight.items():
            if count:
                self.realms[realm].in_flight = count
        self.log.clear()
