"""The shared HTTP layer: status and transport error mapping, Retry-After, logging, the rate-limit
hook, the call deadline, and the bounds on an answer's size and time against a real misbehaving server."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.utils import format_datetime

import httpx
import pytest
from structlog.testing import capture_logs

from providers.errors import AuthenticationError, DataError, RetryableError
from providers.http import (
    LOG_FIELDS,
    RATE_LIMIT_KEY,
    RATE_LIMITER,
    AnswerTooLarge,
    CallTimedOut,
    HttpSettings,
    build_client,
    call_deadline,
    deadline,
    error_for_status,
    parse_retry_after,
    raise_for_status,
    remaining,
    translate_transport_errors,
)
from tests.providers.http_server import BODY_MARKER, misbehaving_server


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "https://api.example.com/x"))


def test_retry_after_in_seconds_and_as_http_date() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(format_datetime(now + dt.timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - dt.timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, RetryableError),
        (500, RetryableError),
        (502, RetryableError),
        (503, RetryableError),
        (504, RetryableError),
        (408, RetryableError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (400, DataError),
        (404, DataError),
        (422, DataError),
    ],
)
def test_status_mapping(status: int, error: type[Exception]) -> None:
    mapped = error_for_status(response(status), provider="Example")
    assert type(mapped) is error
    assert str(status) in mapped.message


@pytest.mark.parametrize("status", [200, 201, 204, 302])
def test_success_is_no_error(status: int) -> None:
    assert error_for_status(response(status), provider="Example") is None
    assert raise_for_status(response(status), provider="Example").status_code == status


def test_429_and_503_carry_retry_after() -> None:
    limited = error_for_status(response(429, {"Retry-After": "7"}), provider="Example")
    assert isinstance(limited, RetryableError) and limited.retry_after == 7.0
    unavailable = error_for_status(response(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), provider="Example")
    assert isinstance(unavailable, RetryableError) and unavailable.retry_after == 0.0
    assert isinstance(error_for_status(response(429), provider="Example"), RetryableError)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.PoolTimeout("busy"),
        httpx.RemoteProtocolError("closed"),
        httpx.ReadError("reset"),
    ],
)
def test_transport_failures_are_retryable(exc: httpx.TransportError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with build_client(provider="Example", transport=httpx.MockTransport(fail)) as client:
        with pytest.raises(RetryableError) as caught, translate_transport_errors("Example"):
            client.get("https://api.example.com/x")
    assert caught.value.details["error"] == type(exc).__name__


def test_refused_connection_on_a_real_socket_is_retryable() -> None:
    with build_client(provider="Example", settings=HttpSettings(connect=1.0)) as client:
        with pytest.raises(RetryableError), translate_transport_errors("Example"):
            client.get("http://127.0.0.1:9/")


def test_client_has_explicit_timeouts_and_limits() -> None:
    settings = HttpSettings(connect=1.0, read=2.0, write=3.0, pool=4.0)
    with build_client(provider="Example", settings=settings) as client:
        assert client.timeout == httpx.Timeout(connect=1.0, read=2.0, write=3.0, pool=4.0)


def test_one_log_line_per_call_without_secrets() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201 if request.method == "POST" else 200, json={})

    with build_client(provider="Example", transport=httpx.MockTransport(answer)) as client, capture_logs() as logs:
        client.get(
            "https://api.example.com/v1/items?access_token=s3cret",
            headers={"Authorization": "Bearer s3cret"},
        )
        client.post(
            "https://api.example.com/v1/items", json={"password": "s3cret"}, extensions={LOG_FIELDS: {"rpc": "x"}}
        )
    assert [entry["event"] for entry in logs] == ["provider.http", "provider.http"]
    first, second = logs
    assert first["method"] == "GET" and first["path"] == "/v1/items" and first["status"] == 200
    assert isinstance(first["ms"], int)
    assert second["status"] == 201 and second["rpc"] == "x"
    assert "s3cret" not in repr(logs)


def test_failed_calls_are_logged_too() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with build_client(provider="Example", transport=httpx.MockTransport(fail)) as client, capture_logs() as logs:
        with pytest.raises(httpx.ConnectError):
            client.get("https://api.example.com/x")
    assert logs[0]["event"] == "provider.http" and logs[0]["status"] is None and logs[0]["error"] == "ConnectError"


class Recorder:
    """A RateLimiter that lets every call go and writes down what the transport asked of it."""

    problem_header = "X-Rate-Limit-Problem"

    def __init__(self, events: list[tuple[object, ...]] | None = None) -> None:
        self.events = events if events is not None else []

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        self.events.append(("enter", key))
        try:
            yield
        finally:
            self.events.append(("exit", key))

    def penalize(self, key: str, retry_after: float | None, problem: str | None) -> None:
        self.events.append(("penalize", key, retry_after, problem))

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        self.events.append(("observe", key, headers.get("X-MinLimit-Remaining")))


class Refuser(Recorder):
    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        raise RetryableError("slow down", retry_after=3)
        yield  # pragma: no cover


def test_each_call_holds_a_rate_limit_slot_until_its_answer_is_read() -> None:
    events: list[tuple[object, ...]] = []

    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            events.append(("read",))
            yield b"{}"

    def answer(request: httpx.Request) -> httpx.Response:
        events.append(("call", request.url.path))
        return httpx.Response(200, headers={"X-MinLimit-Remaining": "59"}, stream=Body())

    recorder = Recorder(events)
    transport = httpx.MockTransport(answer)
    with build_client(provider="example", transport=transport, rate_limiter=recorder, rate_limit_key="tenant-1") as client:
        assert client.get("https://api.example.com/a").json() == {}
        client.get("https://api.example.com/b", extensions={RATE_LIMIT_KEY: "tenant-2"})
    assert events == [
        ("enter", "tenant-1"), ("call", "/a"), ("read",), ("observe", "tenant-1", "59"), ("exit", "tenant-1"),
        ("enter", "tenant-2"), ("call", "/b"), ("read",), ("observe", "tenant-2", "59"), ("exit", "tenant-2"),
    ]


def test_a_refused_slot_means_no_call() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200)

    transport = httpx.MockTransport(answer)
    with build_client(provider="example", transport=transport, rate_limiter=Refuser(), rate_limit_key="t") as client:
        with pytest.raises(RetryableError) as caught:
            client.get("https://api.example.com/c")
        assert caught.value.retry_after == 3
        # A call without a key (none on the client or the request) is not limited.
    with build_client(provider="example", transport=transport, rate_limiter=Refuser()) as client:
        assert client.get("https://api.example.com/d").status_code == 200
    assert calls == ["/d"]


def test_a_request_can_name_its_own_limiter() -> None:
    own = Recorder()
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with build_client(provider="example", transport=transport, rate_limiter=Refuser(), rate_limit_key="realm") as client:
        client.post("https://api.example.com/batch", extensions={RATE_LIMITER: own})
    assert own.events[0] == ("enter", "realm")


def test_a_429_penalizes_the_key_with_retry_after_and_the_problem() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "7", "X-Rate-Limit-Problem": "appminute"})

    recorder = Recorder()
    with build_client(provider="example", transport=httpx.MockTransport(answer), rate_limiter=recorder,
                      rate_limit_key="tenant-1") as client:
        response = client.get("https://api.example.com/a")
    assert response.status_code == 429, "the caller still maps the status (error_for_status)"
    assert ("penalize", "tenant-1", 7.0, "appminute") in recorder.events
    assert recorder.events[-1] == ("exit", "tenant-1")


def test_call_deadline_nests_to_the_earliest() -> None:
    assert deadline() is None and remaining() is None
    with call_deadline(10) as outer:
        assert 9 < remaining() <= 10  # type: ignore[operator]
        with call_deadline(100) as inner:
            assert inner == outer
        with call_deadline(at=time.monotonic() + 1) as earlier:
            assert earlier < outer and remaining() <= 1  # type: ignore[operator]
        assert deadline() == outer
    assert deadline() is None
    with pytest.raises(TypeError):
        with call_deadline():
            pass


def test_no_call_starts_once_the_deadline_has_passed() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200)

    recorder = Recorder()
    with build_client(provider="tryton", transport=httpx.MockTransport(answer), rate_limiter=recorder,
                      rate_limit_key="k") as client, call_deadline(0):
        with pytest.raises(CallTimedOut) as caught:
            client.get("https://api.example.com/a")
    assert isinstance(caught.value, RetryableError)
    assert "Tryton" in caught.value.message
    assert calls == [] and recorder.events == []


def test_settings_come_from_booksync_settings() -> None:
    from tests.support.env import booksync_env

    with booksync_env(provider_max_response_bytes="2000000", provider_call_timeout_seconds="9",
                      http_timeout_seconds="4"):
        settings = HttpSettings.from_settings()
    assert (settings.max_response_bytes, settings.call_timeout, settings.read) == (2_000_000, 9.0, 4.0)


# -- against a real server that misbehaves --------------------------------------------------------

SMALL = HttpSettings(max_response_bytes=1_000_000, call_timeout=2.0, read=30.0)


@pytest.fixture(scope="module")
def server() -> Iterator[object]:
    with misbehaving_server() as running:
        yield running


def _timed_get(url: str, settings: HttpSettings = SMALL) -> tuple[BaseException | httpx.Response, float]:
    started = time.monotonic()
    with build_client(provider="tryton", settings=settings) as client:
        try:
            outcome: BaseException | httpx.Response = client.get(url)
        except Exception as exc:  # noqa: BLE001
            outcome = exc
    return outcome, time.monotonic() - started


def test_a_declared_oversized_answer_is_refused_before_reading(server: object) -> None:
    outcome, seconds = _timed_get(f"{server.url}/big?bytes=50000000")  # type: ignore[attr-defined]
    assert isinstance(outcome, AnswerTooLarge) and isinstance(outcome, RetryableError)
    assert outcome.message == "Tryton's answer was larger than 1 MB"
    assert BODY_MARKER.decode() not in str(outcome)
    assert seconds < 5


def test_an_answer_growing_past_the_cap_is_cut_off(server: object) -> None:
    outcome, seconds = _timed_get(f"{server.url}/big-chunked?bytes=50000000")  # type: ignore[attr-defined]
    assert isinstance(outcome, AnswerTooLarge)
    assert outcome.details == {"error": "AnswerTooLarge", "limit_bytes": 1_000_000}
    assert seconds < 5
    assert server.bytes_sent < 50_000_000  # type: ignore[attr-defined]


def test_the_cap_counts_decompressed_bytes(server: object) -> None:
    bomb, _ = _timed_get(f"{server.url}/gzip?bytes=20000000")  # type: ignore[attr-defined]
    assert isinstance(bomb, AnswerTooLarge), "20 MB of zeros gzip to ~20 kB: the cap applies after decompression"
    fine, _ = _timed_get(f"{server.url}/gzip?bytes=900000")  # type: ignore[attr-defined]
    assert isinstance(fine, httpx.Response) and fine.content == b"0" * 900_000
    assert "Content-Encoding" not in fine.headers


def test_a_small_answer_passes_untouched(server: object) -> None:
    outcome, _ = _timed_get(f"{server.url}/ok?header=X-MinLimit-Remaining:12")  # type: ignore[attr-defined]
    assert isinstance(outcome, httpx.Response)
    assert outcome.json() == {"ok": True} and outcome.headers["X-MinLimit-Remaining"] == "12"


@pytest.mark.parametrize("path", ["/trickle-headers", "/trickle-body"])
def test_a_trickling_server_is_cut_off_at_the_call_timeout(server: object, path: str) -> None:
    with capture_logs() as logs:
        outcome, seconds = _timed_get(f"{server.url}{path}?every=0.5")  # type: ignore[attr-defined]
    assert isinstance(outcome, CallTimedOut) and isinstance(outcome, RetryableError)
    assert outcome.message == "Tryton took longer than 2 s to answer"
    assert BODY_MARKER.decode()[:1] * 2 not in str(outcome)
    assert 1.5 < seconds < 6, "each read returns within the read timeout (30 s); only the call's deadline ends it"
    assert logs[-1]["event"] == "provider.http" and logs[-1]["error"] == "CallTimedOut"


def test_the_call_deadline_bounds_a_call_with_a_longer_timeout(server: object) -> None:
    patient = HttpSettings(max_response_bytes=1_000_000, call_timeout=120.0, read=30.0)
    with call_deadline(1.5):
        outcome, seconds = _timed_get(f"{server.url}/trickle-body?every=0.5", patient)  # type: ignore[attr-defined]
    assert isinstance(outcome, CallTimedOut)
    assert "the task's time for provider calls ran out" in outcome.message
    assert 1.0 < seconds < 5


def test_an_answer_is_kept_when_the_limiter_cannot_record_it() -> None:
    class BrokenStore(Recorder):
        def observe(self, key: str, headers: Mapping[str, str]) -> None:
            raise RetryableError("the rate-limit store is unavailable (ConnectionError); try again later")

    transport = httpx.MockTransport(lambda request: httpx.Response(201, json={"id": 7}))
    with build_client(provider="example", transport=transport, rate_limiter=BrokenStore(), rate_limit_key="k") as client:
        with capture_logs() as logs:
            created = client.post("https://api.example.com/invoices")
    assert created.json() == {"id": 7}, "the invoice exists: its id must reach the caller"
    assert logs[-1]["event"] == "provider.rate_limit_report_failed"
