"""The HTTP layer every adapter shares: timeouts, pooling, bounded answers, one log line per call,
rate limits, a call deadline, and the mapping of transport failures and HTTP statuses onto the
provider error hierarchy.

Logging, rate limiting and the bounds live in a transport wrapper rather than in event hooks so that
calls which never get a response (refused connections, timeouts) are logged and limited too, and so
that the rate-limit slot is held until the answer has been read.

Two bounds keep a hostile or broken server from holding a worker:

- the bytes read: a ``Content-Length`` above ``max_response_bytes`` is refused before the body is
  read, a body that grows past it is cut off, and gzip/deflate answers are decompressed here under
  the same cap (a few kilobytes of gzip can inflate to gigabytes);
- the time: every socket operation of a call (connect, TLS, each read and write) is given at most
  what is left of the call's deadline, so a server trickling one byte a second (each read returning
  well within the read timeout) is cut off at the deadline instead of at the task's time limit.

The deadline of a call is ``call_timeout`` after it starts, and never later than the deadline the
caller set with ``call_deadline`` (the sync engine sets it from the task's soft time limit).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpcore
import httpx
import structlog

from providers.addresses import AddressNotAllowed, AddressPolicy
from providers.errors import AuthenticationError, DataError, ProviderError, RetryableError, Unreachable

log = structlog.get_logger(__name__)

#: ``request.extensions`` key under which a caller adds non-secret fields to the call's log line.
LOG_FIELDS = "booksync.log_fields"
#: ``request.extensions`` key holding the rate-limit key for the call (e.g. ``"xero:<tenant>"``).
RATE_LIMIT_KEY = "booksync.rate_limit_key"
#: ``request.extensions`` key holding a ``RateLimiter`` for this call instead of the client's
#: (QuickBooks' batch endpoint has a limit of its own on top of the realm's).
RATE_LIMITER = "booksync.rate_limiter"

#: A timeout this close to the call's deadline is the deadline's doing, not the read timeout's.
_DEADLINE_SLACK = 0.05


# -- the call deadline ------------------------------------------------------------------------

_call_deadline: ContextVar[float | None] = ContextVar("booksync_call_deadline", default=None)


@contextmanager
def call_deadline(seconds: float | None = None, *, at: float | None = None) -> Iterator[float]:
    """Nothing in the HTTP layer goes past this deadline: ``seconds`` from now, or ``at`` (a
    ``time.monotonic()`` value). Waiting for a rate-limit slot, connecting, reading an answer all
    stop there. Nested deadlines keep the earliest. Yields the deadline in effect.

    The sync engine wraps a task in ``call_deadline(soft_time_limit - margin)`` so a provider call
    fails as a retryable error before Celery's soft time limit interrupts it mid-call.
    """
    if (seconds is None) == (at is None):
        raise TypeError("call_deadline takes seconds or at=, not both")
    ends = time.monotonic() + seconds if seconds is not None else float(at)  # type: ignore[arg-type]
    outer = _call_deadline.get()
    if outer is not None:
        ends = min(ends, outer)
    token = _call_deadline.set(ends)
    try:
        yield ends
    finally:
        _call_deadline.reset(token)


def deadline() -> float | None:
    """The ``time.monotonic()`` value of the current call deadline, or None when none is set."""
    return _call_deadline.get()


def remaining() -> float | None:
    """Seconds left before the current call deadline (negative once passed), or None when none is set."""
    ends = _call_deadline.get()
    return None if ends is None else ends - time.monotonic()


# -- rate limiting hook -----------------------------------------------------------------------


class RateLimiter(Protocol):
    """What the transport asks around every call; ``providers.ratelimit.SharedRateLimiter`` is the
    shared (Redis or SQLite) implementation."""

    #: Response header naming which limit a 429 was about (Xero's ``X-Rate-Limit-Problem``), or None.
    problem_header: str | None

    def slot(self, key: str) -> AbstractContextManager[None]:
        """Held around one call until its answer is read; raises ``RetryableError`` when the call
        cannot be made soon enough."""

    def penalize(self, key: str, retry_after: float | None, problem: str | None) -> None:
        """The provider answered 429: hold calls back until ``retry_after`` has passed."""

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        """Every answer's headers, for the budget the provider reports."""


class NoRateLimit:
    """For providers without limits (Tryton): every call goes at once."""

    problem_header: str | None = None

    def slot(self, key: str) -> AbstractContextManager[None]:
        return nullcontext()

    def penalize(self, key: str, retry_after: float | None, problem: str | None) -> None:
        return None

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        return None


# -- settings and errors ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpSettings:
    connect: float = 5.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 5.0
    max_connections: int = 10
    max_keepalive_connections: int = 5
    keepalive_expiry: float = 30.0
    #: Largest answer read, after decompression (``BOOKSYNC_PROVIDER_MAX_RESPONSE_BYTES``).
    max_response_bytes: int = 25_000_000
    #: Longest one call may take, sending to last byte (``BOOKSYNC_PROVIDER_CALL_TIMEOUT_SECONDS``).
    call_timeout: float = 120.0
    #: Where a server URL a tenant gave may connect (``BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES``): public
    #: addresses only unless more kinds are allowed. Adapters whose URL is the tenant's apply it.
    tenant_url_policy: AddressPolicy = field(default_factory=AddressPolicy)

    @classmethod
    def from_settings(cls) -> HttpSettings:
        """The bounds booksync's settings ask for (the environment is read in config.settings only)."""
        from config.settings import get_settings

        settings = get_settings()
        return cls(
            read=settings.http_timeout_seconds,
            max_response_bytes=settings.provider_max_response_bytes,
            call_timeout=settings.provider_call_timeout_seconds,
            tenant_url_policy=settings.provider_address_policy,
        )

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)

    def limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


class AnswerTooLarge(RetryableError):
    """The answer was larger than ``max_response_bytes``; nothing of it is kept or quoted."""


class CallTimedOut(RetryableError):
    """The call did not finish within its deadline (``call_timeout`` or the caller's ``call_deadline``)."""


def _size(limit: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if limit >= scale and limit % (scale // 10) == 0:
            return f"{limit / scale:g} {unit}"
    return f"{limit} bytes"


# -- bounded network I/O ------------------------------------------------------------------------

#: ``time.monotonic()`` value at which the socket operations of the call under way must stop.
_io_deadline: ContextVar[float | None] = ContextVar("booksync_http_io_deadline", default=None)


def _io_timeout(timeout: float | None, expired: type[Exception]) -> float | None:
    ends = _io_deadline.get()
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise expired("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every operation is given at most what is left of the call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _io_timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _io_timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _io_timeout(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _io_timeout(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _io_timeout(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def network_transport(
    settings: HttpSettings | None = None, *, address_policy: AddressPolicy | None = None,
    socket_options: Iterable[tuple[int, int, int]] | None = None,
) -> httpx.HTTPTransport:
    """httpx's own transport, over sockets that stop at the call's deadline.

    httpx builds its connection pool without a way to pass httpcore's ``network_backend``, so the
    pool is rebuilt with the same arguments httpx uses plus the deadline-aware backend. Fault
    injectors in tests wrap this to keep the bounds. With ``address_policy`` the transport connects
    only to addresses it allows (``providers.addresses``: no loopback, private or metadata addresses
    unless allowed), checked at every connection on the address actually connected to.
    ``socket_options`` are set on every socket (``TCP_NODELAY``: httpcore writes a request's headers
    and body separately, which Nagle's algorithm and delayed ACKs can hold up by 40 ms).
    """
    limits = (settings or HttpSettings()).limits()
    transport = httpx.HTTPTransport(limits=limits)
    backend: httpcore.NetworkBackend = _DeadlineBackend()
    if address_policy is not None:
        from providers.addresses import GuardedNetworkBackend

        backend = GuardedNetworkBackend(address_policy, backend)
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 -- see the docstring
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
        socket_options=socket_options,
    )
    return transport


@contextmanager
def socket_deadline(seconds: float) -> Iterator[float]:
    """Every socket operation of ``network_transport`` sockets under it stops ``seconds`` from now, for
    callers that do not go through ``InstrumentedTransport`` (which sets this per call itself). Yields
    the deadline (a ``time.monotonic()`` value)."""
    ends = time.monotonic() + seconds
    token = _io_deadline.set(ends)
    try:
        yield ends
    finally:
        _io_deadline.reset(token)


def _decompress(raw: bytes, encoding: str, limit: int) -> bytes | None:
    """``raw`` decoded, or None when the result would be larger than ``limit``.

    Deflate is tried zlib-wrapped first and raw second, as httpx (and browsers) do.
    """
    attempts = [zlib.MAX_WBITS | 16] if encoding in ("gzip", "x-gzip") else [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    for number, wbits in enumerate(attempts, 1):
        try:
            out = bytearray()
            data = raw
            while data:
                decoder = zlib.decompressobj(wbits)
                out += decoder.decompress(data, limit + 1 - len(out))
                if len(out) > limit or decoder.unconsumed_tail:
                    return None
                data = decoder.unused_data  # a further gzip member
                if not decoder.eof:
                    break
            return bytes(out)
        except zlib.error:
            if number == len(attempts):
                raise
    raise AssertionError("unreachable")


# -- the transport ------------------------------------------------------------------------------


_sent_lock = threading.Lock()
_sent = 0


def _count_sent() -> None:
    global _sent
    with _sent_lock:
        _sent += 1


def requests_sent() -> int:
    """How many requests this process has begun to send to providers (any thread). A caller that reads
    the same number before and after some work knows the work sent nothing: the engine unmarks records
    whose push a rate limit stopped only then, since a push of several calls may be stopped after some."""
    return _sent


class InstrumentedTransport(httpx.BaseTransport):
    """Wraps a transport: holds a rate-limit slot around each call, bounds the call's bytes and
    time, reads the answer whole, reports it to the rate limiter, and logs ``provider.http`` once."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        provider: str,
        display_name: str,
        rate_limiter: RateLimiter,
        rate_limit_key: str | None,
        settings: HttpSettings,
    ) -> None:
        self._inner = inner
        self._provider = provider
        self._name = display_name
        self._rate_limiter = rate_limiter
        self._rate_limit_key = rate_limit_key
        self._settings = settings

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request.extensions.get(RATE_LIMIT_KEY, self._rate_limit_key)
        limiter: RateLimiter = request.extensions.get(RATE_LIMITER, self._rate_limiter)
        fields: dict[str, Any] = {
            "provider": self._provider,
            "method": request.method,
            "path": request.url.path,
            **request.extensions.get(LOG_FIELDS, {}),
        }
        left = remaining()
        if left is not None and left <= 0:
            log.warning("provider.http", status=None, error="CallTimedOut", ms=0, **fields)
            raise CallTimedOut(
                f"{self._name} was not called: the task's time for provider calls is up",
                details={"error": "CallTimedOut", "seconds": 0},
            )
        with limiter.slot(key) if key else nullcontext():
            response = self._exchange(request, fields)
            if key:
                self._report(limiter, key, response)
        return response

    def _report(self, limiter: RateLimiter, key: str, response: httpx.Response) -> None:
        """Tell the limiter about the answer; a failure to do so never loses an answer already had
        (a document may have been created)."""
        try:
            limiter.observe(key, response.headers)
            if response.status_code == 429:
                problem = response.headers.get(limiter.problem_header) if limiter.problem_header else None
                limiter.penalize(key, parse_retry_after(response.headers.get("Retry-After")), problem)
        except ProviderError as exc:
            log.warning("provider.rate_limit_report_failed", provider=self._provider, error=exc.message)

    def _exchange(self, request: httpx.Request, fields: dict[str, Any]) -> httpx.Response:
        _count_sent()
        started = time.perf_counter()
        starts = time.monotonic()
        seconds = self._settings.call_timeout
        left = remaining()
        by_caller = left is not None and left < seconds
        if by_caller:
            seconds = left  # type: ignore[assignment]
        ends = starts + seconds
        _cap_timeouts(request, seconds)
        token = _io_deadline.set(ends)
        response: httpx.Response | None = None
        try:
            response = self._inner.handle_request(request)
            try:
                headers, content = self._read_answer(request, response, ends, seconds, by_caller)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            if time.monotonic() < ends - _DEADLINE_SLACK:
                log.warning("provider.http", status=None, error=type(exc).__name__, ms=_ms(started), **fields)
                raise
            error = self._too_slow(seconds, by_caller)
            log.warning("provider.http", status=None, error=type(error).__name__, ms=_ms(started), **fields)
            raise error from None
        except httpx.TransportError as exc:
            log.warning("provider.http", status=None, error=type(exc).__name__, ms=_ms(started), **fields)
            raise
        except AddressNotAllowed as exc:
            log.warning("provider.http", status=None, error="AddressNotAllowed", ms=_ms(started), **fields)
            raise address_refused(exc, provider=self._name) from None
        except ProviderError as exc:
            status = response.status_code if response is not None else None
            log.warning("provider.http", status=status, error=type(exc).__name__, ms=_ms(started), **fields)
            raise
        finally:
            _io_deadline.reset(token)
        assert response is not None
        log.info("provider.http", status=response.status_code, ms=_ms(started), bytes=len(content), **fields)
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions=response.extensions,
            request=request,
        )

    def _read_answer(
        self, request: httpx.Request, response: httpx.Response, ends: float, seconds: float, by_caller: bool
    ) -> tuple[httpx.Headers, bytes]:
        limit = self._settings.max_response_bytes
        declared = response.headers.get("Content-Length", "").strip()
        if request.method != "HEAD" and declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit)
        headers = response.headers.copy()
        if response.is_stream_consumed:
            # Built from bytes already read and decoded (an httpx.MockTransport answer).
            headers.pop("Content-Encoding", None)
            if len(response.content) > limit:
                raise self._too_large(limit)
            return headers, response.content
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > limit:
                raise self._too_large(limit)
            if time.monotonic() > ends:
                raise self._too_slow(seconds, by_caller)
            chunks.append(chunk)
        raw = b"".join(chunks)
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("gzip", "x-gzip", "deflate"):
            return headers, raw
        try:
            content = _decompress(raw, encoding, limit)
        except zlib.error:
            raise RetryableError(
                f"{self._name} answered with a body that is not valid {encoding}",
                details={"error": "DecodingError"},
            ) from None
        if content is None:
            raise self._too_large(limit)
        del headers["Content-Encoding"]
        headers["Content-Length"] = str(len(content))
        return headers, content

    def _too_large(self, limit: int) -> AnswerTooLarge:
        return AnswerTooLarge(
            f"{self._name}'s answer was larger than {_size(limit)}",
            details={"error": "AnswerTooLarge", "limit_bytes": limit},
        )

    def _too_slow(self, seconds: float, by_caller: bool) -> CallTimedOut:
        why = " (the task's time for provider calls ran out)" if by_caller else ""
        return CallTimedOut(
            f"{self._name} took longer than {seconds:.3g} s to answer{why}",
            details={"error": "CallTimedOut", "seconds": round(seconds, 3)},
        )

    def close(self) -> None:
        self._inner.close()


def _cap_timeouts(request: httpx.Request, seconds: float) -> None:
    """No single phase (waiting for a pooled connection included) may outlast the call's deadline."""
    seconds = max(seconds, 0.001)
    timeouts = request.extensions.get("timeout") or {}
    request.extensions["timeout"] = {
        phase: seconds if value is None else min(value, seconds)
        for phase, value in {"connect": None, "read": None, "write": None, "pool": None, **timeouts}.items()
    }


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
    display_name: str | None = None,
    address_policy: AddressPolicy | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with explicit timeouts, pool limits and answer bounds whose every call is
    logged and rate limited.

    ``settings`` defaults to booksync's (``HttpSettings.from_settings()``). ``transport`` replaces
    the network (tests pass ``httpx.MockTransport`` or a fault injector; wrap ``network_transport()``
    to keep the socket-level deadline). ``display_name`` is how errors name the provider
    ("QuickBooks Online"); by default ``provider`` capitalized. With ``address_policy`` every
    connection is checked against it on the address actually connected to (a tenant's server URL:
    ``settings.tenant_url_policy``), so a name that resolves elsewhere later is refused too.
    """
    settings = settings or HttpSettings.from_settings()
    inner = transport or network_transport(settings, address_policy=address_policy)
    return httpx.Client(
        base_url=base_url,
        timeout=settings.timeout(),
        limits=settings.limits(),
        # Only the encodings this layer decompresses under its size cap.
        headers={"Accept-Encoding": "gzip, deflate", **dict(headers or {})},
        transport=InstrumentedTransport(
            inner,
            provider=provider,
            display_name=display_name or provider[:1].upper() + provider[1:],
            rate_limiter=rate_limiter or NoRateLimit(),
            rate_limit_key=rate_limit_key,
            settings=settings,
        ),
        follow_redirects=False,
    )


# -- mapping statuses and failures onto the error hierarchy -------------------------------------


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
    return Unreachable(f"{provider} {what} ({type(exc).__name__})", details={"error": type(exc).__name__})


#: The setting that allows more kinds of address for tenants' server URLs.
ALLOW_SETTING = "BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES"


def address_refused(exc: AddressNotAllowed, *, provider: str, field: str = "url") -> DataError:
    """A tenant's server URL that leads to an address booksync does not connect to: the URL is wrong
    for this deployment, so it is the setting's error, not something to retry."""
    return DataError(
        f"{provider} server URL refused: {exc} (an operator can allow them with {ALLOW_SETTING}={exc.kind.value})",
        field=field, details={"error": "AddressNotAllowed", "kind": exc.kind.value},
    )


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
