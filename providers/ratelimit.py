"""Provider rate limits shared by every worker process on every host.

Cloud accounting APIs limit calls per tenant and per app. Celery's ``rate_limit`` counts per worker
process, so booksync keeps the counts in one store every worker sees (Redis in production, a SQLite
file on the embedded default; see ``providers.ratelimit_stores``) and asks it before every call:

- moving windows (``limits``' moving-window strategy, exact: no span of ``seconds`` ever holds more
  than ``calls`` calls, unlike a fixed window that allows twice the limit across a boundary), per key
  and, for limits of the whole app, shared by every key of the policy;
- a cap on calls in flight per key, as leases that expire (a worker killed while holding one frees it
  after ``lease_seconds``);
- after a 429, a block until ``Retry-After`` has passed, per key or app-wide as the provider says;
- the budget the provider reports in its headers, for operators (``budget``).

A call that has to wait briefly waits (``max_wait``, a few seconds); one that would wait longer, or
past the caller's ``providers.http.call_deadline``, is refused at once with ``RateLimited`` and its
``retry_after``, so the sync can stop at a clean point and be retried when the budget returns.

Published limits are the vendors' as documented at the time of writing, each with its adapter:
``providers.xero.limits`` (Xero's "API rate limits", developer.xero.com/documentation/guides/oauth2/limits)
and ``providers.quickbooks.limits`` (Intuit's "API call limits and throttles").
"""

from __future__ import annotations

import functools
import math
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

from providers import http
from providers.errors import RateLimited, RetryableError
from providers.ratelimit_stores import LimiterStore, open_store

log = structlog.get_logger(__name__)

#: How long past the longest call (``provider_call_timeout_seconds``) a concurrency lease lives.
LEASE_MARGIN_SECONDS = 30.0
#: A call refused because the concurrency cap stayed full is worth retrying this soon.
CONCURRENCY_RETRY_SECONDS = 1.0
#: How far apart a call's departure (booksync counts it) and its arrival (the provider counts it) may be.
SKEW_SECONDS = 0.25


@dataclass(frozen=True)
class Window:
    """At most ``calls`` calls in any span of ``seconds`` seconds."""

    calls: int
    seconds: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.seconds <= 0:
            raise ValueError(f"a window needs calls >= 1 and seconds > 0, not {self.calls}/{self.seconds}")


@dataclass(frozen=True)
class LimitPolicy:
    name: str  #: "xero", "quickbooks", "quickbooks-batch"; counters are kept per policy
    per_key: tuple[Window, ...]  #: per tenant / realm, e.g. (Window(60, 60), Window(5000, 86400))
    concurrency: int | None = None  #: calls in flight per key
    app_wide: tuple[Window, ...] = ()  #: shared by every key of the policy (Xero's 10,000/min)
    time_scale: float = 1.0  #: windows are divided by this (sandboxes with scaled limits)
    #: Response header naming the limit a 429 was about, and which of its values mean the whole app.
    problem_header: str | None = None
    app_wide_problems: frozenset[str] = frozenset()
    #: How long a 429 without ``Retry-After`` holds the key back; None: the shortest per-key window.
    penalty_seconds: float | None = None
    #: (response header, budget field) pairs the provider reports its remaining budget in.
    reported_headers: tuple[tuple[str, str], ...] = field(default=())
    #: How far apart a call's departure (booksync counts it) and its arrival (the provider counts it)
    #: may be; the windows keep that much of their budget back (providers' policies use SKEW_SECONDS).
    skew_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.per_key and not self.app_wide and not self.concurrency:
            raise ValueError(f"policy {self.name!r} limits nothing")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")

    def seconds(self, window: Window) -> int:
        """The window's length once scaled, in whole seconds (``limits`` counts in seconds), rounded up."""
        return max(1, math.ceil(window.seconds / self.time_scale - 1e-9))

    def calls(self, window: Window) -> int:
        """The calls booksync allows itself in the window: the provider's limit less what the calls sent
        within ``SKEW_SECONDS`` come to. The provider counts calls when they arrive, booksync when they
        leave; a call that left at the end of one window may arrive in the next and be counted with it
        (seen with the local Xero: 62 arrivals in a 6 s window of 60 departures)."""
        per_second = window.calls / self.seconds(window)
        return max(1, window.calls - math.ceil(per_second * self.skew_seconds - 1e-9))

    def default_penalty(self) -> float:
        if self.penalty_seconds is not None:
            return self.penalty_seconds / self.time_scale
        windows = self.per_key or self.app_wide
        return float(min(self.seconds(w) for w in windows)) if windows else CONCURRENCY_RETRY_SECONDS




def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def _number(value: str) -> int | float | str:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


class SharedRateLimiter:
    """Implements ``providers.http.RateLimiter`` for one ``LimitPolicy`` over a shared store.

    Keys (``"xero:<tenant id>"``) are stored as given: they must name tenants, never carry secrets.
    """

    def __init__(
        self,
        policy: LimitPolicy,
        store: LimiterStore,
        *,
        max_wait: float = 5.0,
        lease_seconds: float = 120.0 + LEASE_MARGIN_SECONDS,
        poll_seconds: float = 0.025,
    ) -> None:
        self.policy = policy
        self.problem_header = policy.problem_header
        self.max_wait = max_wait
        self.lease_seconds = lease_seconds
        self._poll = poll_seconds
        self._store = store
        self._windows = MovingWindowRateLimiter(store.windows)
        namespace = f"booksync/{policy.name}"
        self._per_key = [(w, RateLimitItemPerSecond(policy.calls(w), policy.seconds(w), namespace))
                         for w in policy.per_key]
        self._app = [(w, RateLimitItemPerSecond(policy.calls(w), policy.seconds(w), namespace))
                     for w in policy.app_wide]
        self._app_name = f"{policy.name}/app"

    def _name(self, key: str) -> str:
        return f"{self.policy.name}/key={key}"

    def _items(self, key: str) -> list[tuple[RateLimitItem, str]]:
        return [(item, f"key={key}") for _, item in self._per_key] + [(item, "app") for _, item in self._app]

    # -- the RateLimiter protocol ----------------------------------------------------------------

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        """Waits for room in every window and under the concurrency cap, and holds the in-flight
        lease until the block (the call, its answer read) ends. Raises ``RateLimited`` at once when
        the wait would be longer than ``max_wait`` or end after the call deadline."""
        token = self._acquire(key)
        try:
            yield
        finally:
            if token is not None:
                self._release(key, token)

    def penalize(self, key: str, retry_after: float | None, problem: str | None) -> None:
        """After a 429: no call under ``key`` (or under any key, when ``problem`` names an app-wide
        limit) until ``retry_after`` seconds have passed."""
        seconds = retry_after if retry_after is not None else self.policy.default_penalty()
        if seconds <= 0:
            return
        app_wide = problem is not None and problem.strip().lower() in self.policy.app_wide_problems
        with self._store_errors():
            self._store.block(self._app_name if app_wide else self._name(key), time.time() + seconds)
        log.warning(
            "provider.rate_limited", outcome="penalized", policy=self.policy.name, key=key,
            retry_after=round(seconds, 3), problem=problem, scope="app" if app_wide else "key",
        )

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        """Remembers the budget the provider reports (``reported_headers``) for ``budget``."""
        values = {name: headers[header].strip() for header, name in self.policy.reported_headers if header in headers}
        if not values:
            return
        values["as_of"] = _iso(time.time()) or ""
        longest = max((self.policy.seconds(w) for w in (*self.policy.per_key, *self.policy.app_wide)), default=60)
        with self._store_errors():
            self._store.remember(self._name(key), values, ttl=longest)

    def budget(self, key: str) -> dict[str, Any]:
        """What an operator wants to know about ``key``: the budget the provider last reported
        (e.g. ``day_remaining``, ``minute_remaining``, ``as_of``), booksync's own windows, calls in
        flight and any 429 block."""
        with self._store_errors():
            reported = self._store.recall(self._name(key))
            windows = []
            for scope, items, ident in (("key", self._per_key, f"key={key}"), ("app", self._app, "app")):
                for window, item in items:
                    stats = self._windows.get_window_stats(item, ident)
                    windows.append({
                        "scope": scope, "calls": window.calls, "seconds": self.policy.seconds(window),
                        "remaining": stats.remaining,
                        "resets_at": _iso(stats.reset_time) if stats.remaining < window.calls else None,
                    })
            in_flight = self._store.leases_held(self._name(key)) if self.policy.concurrency else None
            blocked = self._store.blocked_until([self._name(key), self._app_name])
        as_of = reported.pop("as_of", None)
        return {
            **{name: _number(value) for name, value in reported.items()},
            "as_of": as_of,
            "policy": self.policy.name,
            "key": key,
            "windows": windows,
            "in_flight": in_flight,
            "concurrency": self.policy.concurrency,
            "blocked_until": _iso(blocked),
        }

    # -- waiting -------------------------------------------------------------------------------

    def _acquire(self, key: str) -> str | None:
        began = time.monotonic()
        give_up = began + self.max_wait
        deadline = http.deadline()
        if deadline is not None:
            give_up = min(give_up, deadline)
        waited_for: str | None = None
        while True:
            with self._store_errors():
                token, wait, reason = self._attempt(key)
            now = time.monotonic()
            if reason is None:
                if waited_for is not None:
                    log.info(
                        "provider.rate_limited", outcome="waited", policy=self.policy.name, key=key,
                        reason=waited_for, waited_ms=round((now - began) * 1000),
                    )
                return token
            if reason == "concurrency":
                # When a call in flight ends is unknown: look again shortly, until giving up.
                if now >= give_up:
                    self._refuse(key, reason, CONCURRENCY_RETRY_SECONDS, began)
                pause = min(self._poll * (1 + random.random()), give_up - now)
            else:
                if now + wait > give_up:
                    self._refuse(key, reason, wait, began)
                # A little jitter keeps the waiters on one key from all waking at the same instant.
                pause = min(wait + self._poll * random.random(), give_up - now)
            waited_for = reason
            time.sleep(max(pause, 0.0))

    def _attempt(self, key: str) -> tuple[str | None, float, str | None]:
        """(lease token, 0, None) when the call may go; (None, seconds to wait, why) when not."""
        now = time.time()
        blocked = self._store.blocked_until([self._name(key), self._app_name])
        if blocked is not None:
            return None, blocked - now, "penalty"
        token = None
        if self.policy.concurrency:
            token = uuid.uuid4().hex
            if not self._store.take_lease(self._name(key), token, self.policy.concurrency, self.lease_seconds):
                return None, 0.0, "concurrency"
        items = self._items(key)
        # With several windows, look before taking: a full window must not cost the others a slot.
        full = [(item, ident) for item, ident in items if not self._windows.test(item, ident)] if len(items) > 1 else []
        if not full:
            for item, ident in items:
                if not self._windows.hit(item, ident):
                    full = [(item, ident)]  # another process took the last slot in between
                    break
        if not full:
            return token, 0.0, None
        if token is not None:
            self._store.release_lease(self._name(key), token)
        resets = [self._windows.get_window_stats(item, ident).reset_time for item, ident in full]
        return None, max(max(resets) - time.time(), 0.001), "window"

    def _refuse(self, key: str, reason: str, retry_after: float, began: float) -> None:
        retry_after = round(max(retry_after, 0.001), 3)
        log.warning(
            "provider.rate_limited", outcome="refused", policy=self.policy.name, key=key, reason=reason,
            retry_after=retry_after, waited_ms=round((time.monotonic() - began) * 1000),
        )
        what = {"window": "its call budget is spent", "concurrency": "too many calls are in flight",
                "penalty": "the provider asked to wait (HTTP 429)"}[reason]
        raise RateLimited(
            f"{self.policy.name} call for {key} not made: {what}; try again in {retry_after:g} s",
            retry_after=retry_after,
            details={"error": "RateLimited", "policy": self.policy.name, "reason": reason},
        )

    def _release(self, key: str, token: str) -> None:
        try:
            self._store.release_lease(self._name(key), token)
        except self._store.errors as exc:
            # The lease expires by itself after lease_seconds.
            log.warning("provider.rate_limit_release_failed", error=type(exc).__name__, policy=self.policy.name)

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        try:
            yield
        except self._store.errors as exc:
            raise RetryableError(
                f"the rate-limit store is unavailable ({type(exc).__name__}); try again later",
                retry_after=CONCURRENCY_RETRY_SECONDS * 5,
                details={"error": type(exc).__name__},
            ) from exc


class CombinedRateLimiter:
    """Every limiter's slot for one call (QuickBooks' batch endpoint: the realm's and the batch
    limit's); answers are reported to each."""

    def __init__(self, *limiters: http.RateLimiter) -> None:
        self._limiters = limiters
        self.problem_header = next((lim.problem_header for lim in limiters if lim.problem_header), None)

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        with ExitStack() as stack:
            for limiter in self._limiters:
                stack.enter_context(limiter.slot(key))
            yield

    def penalize(self, key: str, retry_after: float | None, problem: str | None) -> None:
        for limiter in self._limiters:
            limiter.penalize(key, retry_after, problem)

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        for limiter in self._limiters:
            limiter.observe(key, headers)


def combined(*limiters: http.RateLimiter) -> CombinedRateLimiter:
    return CombinedRateLimiter(*limiters)


@functools.cache
def shared_store(url: str) -> LimiterStore:
    """One store per process and URL (Redis pools reconnect after a fork; SQLite opens per process)."""
    return open_store(url)


def rate_limiter(policy: LimitPolicy) -> SharedRateLimiter:
    """The limiter for ``policy`` as booksync's settings configure it: the store at
    ``BOOKSYNC_RATE_LIMIT_URL`` (default: the broker when it is Redis, else a SQLite file under
    ``BOOKSYNC_HOME``), ``BOOKSYNC_RATE_LIMIT_MAX_WAIT_SECONDS``, ``BOOKSYNC_RATE_LIMIT_TIME_SCALE``,
    and leases that outlive the longest call (``BOOKSYNC_PROVIDER_CALL_TIMEOUT_SECONDS``)."""
    from config.settings import get_settings

    settings = get_settings()
    if settings.rate_limit_time_scale != 1.0:
        policy = replace(policy, time_scale=policy.time_scale * settings.rate_limit_time_scale)
    return SharedRateLimiter(
        policy,
        shared_store(settings.resolved_rate_limit_url),
        max_wait=settings.rate_limit_max_wait_seconds,
        lease_seconds=settings.provider_call_timeout_seconds + LEASE_MARGIN_SECONDS,
    )


__all__ = [
    "CombinedRateLimiter",
    "LimitPolicy",
    "RateLimited",
    "SharedRateLimiter",
    "Window",
    "combined",
    "rate_limiter",
    "shared_store",
]
