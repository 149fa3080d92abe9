"""The shared HTTP layer: status and transport error mapping, Retry-After, logging, rate-limit hook."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import httpx
import pytest
from structlog.testing import capture_logs

from providers.errors import AuthenticationError, DataError, RetryableError
from providers.http import (
    LOG_FIELDS,
    RATE_LIMIT_KEY,
    HttpSettings,
    build_client,
    error_for_status,
    parse_retry_after,
    raise_for_status,
    translate_transport_errors,
)


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


def test_rate_limiter_is_asked_before_each_call() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.keys: list[str] = []

        def acquire(self, key: str) -> None:
            self.keys.append(key)

    class Refuser:
        def acquire(self, key: str) -> None:
            raise RetryableError("slow down", retry_after=3)

    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200)

    recorder = Recorder()
    transport = httpx.MockTransport(answer)
    limited = build_client(provider="Example", transport=transport, rate_limiter=recorder, rate_limit_key="tenant-1")
    with limited as client:
        client.get("https://api.example.com/a")
        client.get("https://api.example.com/b", extensions={RATE_LIMIT_KEY: "tenant-2"})
    assert recorder.keys == ["tenant-1", "tenant-2"]

    with build_client(provider="Example", transport=transport, rate_limiter=Refuser(), rate_limit_key="t") as client:
        with pytest.raises(RetryableError) as caught:
            client.get("https://api.example.com/c")
    assert caught.value.retry_after == 3
    assert calls == ["/a", "/b"]
