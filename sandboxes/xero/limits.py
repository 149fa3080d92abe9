"""Xero's API limits, enforced and recorded (developer.xero.com/documentation/guides/oauth2/limits).

Per tenant: 5 calls in progress at once, 60 calls a minute, 5,000 a day; per app: 10,000 calls a minute
across all tenants. Like Xero, the minute and day limits count calls in *fixed* windows that start with a
tenant's first call (so they reset at different times for each tenant). A call over a limit is answered
429 with ``X-Rate-Limit-Problem`` (``concurrent``, ``minute``, ``day`` or ``appminute``) and, for the
windowed limits, ``Retry-After`` (seconds until the window resets); every answer carries
``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``.

``time_scale`` divides every window (10 → 60 calls per 6 s, 5,000 per 2.4 h) so a benchmark can saturate
them quickly. Every accepted call is recorded with its tenant and time, and the counters say what a client
did: calls per tenant, 429s by reason, the most calls seen in flight per tenant, and the most calls seen in
any sliding window of each length. That is a stricter measure than the fixed windows enforced: across a
window boundary a sliding window can hold up to twice the limit without a 429, so a client that shows a
sliding peak within the limit kept to it however the windows fall.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MINUTE, DAY = 60.0, 86400.0


@dataclass(frozen=True, slots=True)
class Limits:
    per_minute: int = 60
    per_day: int = 5000
    concurrent: int = 5
    app_per_minute: int = 10_000
    time_scale: float = 1.0

    @property
    def minute(self) -> float:
        return MINUTE / self.time_scale

    @property
    def day(self) -> float:
        return DAY / self.time_scale


@dataclass
class _Window:
    length: float
    started: float = -math.inf
    count: int = 0

    def roll(self, now: float) -> None:
        if now >= self.started + self.length:
            self.started, self.count = now, 0

    def reset_in(self, now: float) -> float:
        return max(0.0, self.started + self.length - now)


@dataclass
class Refusal:
    problem: str
    retry_after: int | None


@dataclass
class _TenantState:
    minute: _Window
    day: _Window
    in_flight: int = 0
    max_in_flight: int = 0
    times: list[float] = field(default_factory=list)


class RateLimiter:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._tenants: dict[str, _TenantState] = {}
        self._app = _Window(limits.minute)
        self._app_times: list[float] = []
        self.refusals: Counter[str] = Counter()
        self.calls: list[dict[str, Any]] = []
        self._started = time.time() - time.monotonic()

    def _tenant(self, tenant_id: str) -> _TenantState:
        state = self._tenants.get(tenant_id)
        if state is None:
            state = self._tenants[tenant_id] = _TenantState(_Window(self.limits.minute), _Window(self.limits.day))
        return state

    def acquire(self, tenant_id: str, method: str, path: str) -> Refusal | None:
        """Count a call in (and take an in-flight slot), or say which limit refuses it."""
        now = time.monotonic()
        with self._lock:
            state = self._tenant(tenant_id)
            for window in (state.minute, state.day, self._app):
                window.roll(now)
            refusal = None
            if state.in_flight >= self.limits.concurrent:
                refusal = Refusal("concurrent", None)
            elif self._app.count >= self.limits.app_per_minute:
                refusal = Refusal("appminute", _seconds(self._app.reset_in(now)))
            elif state.minute.count >= self.limits.per_minute:
                refusal = Refusal("minute", _seconds(state.minute.reset_in(now)))
            elif state.day.count >= self.limits.per_day:
                refusal = Refusal("day", _seconds(state.day.reset_in(now)))
            if refusal is not None:
                self.refusals[refusal.problem] += 1
                return refusal
            state.minute.count += 1
            state.day.count += 1
            self._app.count += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            state.times.append(now)
            self._app_times.append(now)
            self.calls.append({"tenant_id": tenant_id, "at": round(self._started + now, 6), "method": method,
                               "path": path})
            return None

    def release(self, tenant_id: str) -> None:
        with self._lock:
            self._tenant(tenant_id).in_flight -= 1

    def refuse(self, problem: str) -> None:
        """Count a 429 sent for another reason (a fault switch's storm)."""
        with self._lock:
            self.refusals[problem] += 1

    def remaining(self, tenant_id: str) -> dict[str, int]:
        now = time.monotonic()
        with self._lock:
            state = self._tenant(tenant_id)
            for window in (state.minute, state.day, self._app):
                window.roll(now)
            return {
                "X-MinLimit-Remaining": max(0, self.limits.per_minute - state.minute.count),
                "X-DayLimit-Remaining": max(0, self.limits.per_day - state.day.count),
                "X-AppMinLimit-Remaining": max(0, self.limits.app_per_minute - self._app.count),
            }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            minute, day = self.limits.minute, self.limits.day
            return {
                "limits": {"per_minute": self.limits.per_minute, "per_day": self.limits.per_day,
                           "concurrent": self.limits.concurrent, "app_per_minute": self.limits.app_per_minute,
                           "time_scale": self.limits.time_scale, "minute_seconds": minute, "day_seconds": day},
                "calls_per_tenant": {tenant: len(s.times) for tenant, s in self._tenants.items()},
                "rate_limited": dict(self.refusals),
                "max_in_flight": {tenant: s.max_in_flight for tenant, s in self._tenants.items()},
                "in_flight": {tenant: s.in_flight for tenant, s in self._tenants.items() if s.in_flight},
                "peak_per_minute_window": {tenant: _peak(s.times, minute) for tenant, s in self._tenants.items()},
                "peak_per_day_window": {tenant: _peak(s.times, day) for tenant, s in self._tenants.items()},
                "peak_app_minute_window": _peak(self._app_times, minute),
            }


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _peak(times: list[float], length: float) -> int:
    """The most calls in any half-open window ``[t, t + length)`` (times are in call order, so sorted)."""
    best = 0
    for index, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + length, lo=index) - index)
    return best
