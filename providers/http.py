"""The HTTP layer every adapter shares: timeouts, pooling, one log line per call, rate-limit hook,
and the mapping of transport failures and HTTP statuses onto the provider error hierarchy.

Logging and rate limiting live in a transport wrapper rather than in event hooks so that calls
which never get a response (refused connections, timeouts) are logged and limited too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
import structlog

from providers.errors import AuthenticationError, DataError, ProviderError, RetryableError

log = structlog.get_logger(__name__)

#: ``request.extensions`` key under which a caller adds non-secret fields to the call's log line.
LOG_FIELDS = "booksync.log_fields"
#: ``request.extensions`` key holding the rate-limit key for the call (e.g. ``"xero:<tenant>"``).
RATE_LIMIT_KEY = "booksync.rate_limit_key"


class RateLimiter(Protocol):
    def acquire(self, key: str) -> None:
        """Block until one more call under ``key`` is allowed, or raise RetryableError."""


class NoRateLimit:
    def acquire(self, key: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class HttpSettings:
    connect: float = 5.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 5.0
    max_connections: int = 10
    max_keepalive_connections: int = 5
    keepalive_expiry: float = 30.0

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)

    def limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


class InstrumentedTransport(httpx.BaseTransport):
    """Wraps a transport: acquires the rate limiter, then logs ``provider.http`` once per call."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        provider: str,
        rate_limiter: RateLimiter,
        rate_limit_key: str | None,
    ) -> None:
        self._inner = inner
        self._provider = provider
        self._rate_limiter = rate_limiter
        self._rate_limit_key = rate_limit_key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request.extensions.get(RATE_LIMIT_KEY, self._rate_limit_key)
        if key:
            self._rate_limiter.acquire(key)
        fields: dict[str, Any] = {
            "provider": self._provider,
            "method": request.method,
            "path": request.url.path,
            **request.extensions.get(LOG_FIELDS, {}),
        }
        started = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError as exc:
            log.warning("provider.http", status=None, error=type(exc).__name__, ms=_ms(started), **fields)
            raise
        log.info("provider.http", status=response.status_code, ms=_ms(started), **fields)
        return response

    def close(self) -> None:
        self._inner.close()


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def build_client(
    *,
    provider: str,
    base_url: str = "",
    settings: HttpSettings | None = None,
    rate_limiter: RateLimiter | None = None,
    rate_limit_key: str | None = None,
    transport: httpx.BaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with explicit timeouts and pool limits whose every call is logged.

    ``transport`` replaces the network (tests pass ``httpx.MockTransport`` or a fault injector).
    """
    settings = settings or HttpSettings()
    inner = transport or httpx.HTTPTransport(limits=settings.limits())
    return httpx.Client(
        base_url=base_url,
        timeout=settings.timeout(),
        limits=settings.limits(),
        headers=dict(headers or {}),
        transport=InstrumentedTransport(
            inner, provider=provider, rate_limiter=rate_limiter or NoRateLimit(), rate_limit_key=rate_limit_key
        ),
        follow_redirects=False,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def transport_error(exc: httpx.TransportError, *, provider: str) -> RetryableError:
    if isinstance(exc, httpx.TimeoutException):
        what = "did not answer in time"
    elif isinstance(exc, httpx.ConnectError):
        what = "cannot be reached"
    else:
        what = "dropped the connection"
    return RetryableError(f"{provider} {what} ({type(exc).__name__})", details={"error": type(exc).__name__})


@contextmanager
def translate_transport_errors(provider: str) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(exc, provider=provider) from exc


def error_for_status(response: httpx.Response, *, provider: str) -> ProviderError | None:
    """The error a non-success response stands for, or None for 1xx-3xx.

    Bodies are never quoted: they may echo what was sent.
    """
    status = response.status_code
    if status < 400:
        return None
    details = {"status": status}
    if status == 429:
        return RetryableError(
            f"{provider} is rate limiting requests (HTTP 429)",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            details=details,
        )
    if status >= 500 or status in (408, 425):
        return RetryableError(
            f"{provider} answered HTTP {status}; try again later",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            details=details,
        )
    if status == 401:
        return AuthenticationError(f"{provider} refused the credentials (HTTP 401)", details=details)
    if status == 403:
        return AuthenticationError(f"{provider} denied access (HTTP 403)", details=details)
    return DataError(f"{provider} rejected the request (HTTP {status})", details=details)


def raise_for_status(response: httpx.Response, *, provider: str) -> httpx.Response:
    error = error_for_status(response, provider=provider)
    if error is not None:
        raise error
    return response
