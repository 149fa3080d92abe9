"""Tryton's JSON-RPC wire format and error mapping, against a scripted server (httpx.MockTransport)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from config.secrets import Credentials
from providers.errors import AuthenticationError, DataError, RetryableError
from providers.tryton import TrytonProvider
from providers.tryton.rpc import TrytonUserWarning, decode, encode
from providers.types import DocumentKind

SETTINGS = {"url": "http://tryton.test:8000", "database": "demo"}
CREDENTIALS = Credentials(username="alice", password="pa55word")
HTML_401 = "<!doctype html><title>401 Unauthorized</title><h1>Unauthorized</h1>"

Handler = Callable[[str, list[Any], httpx.Request], httpx.Response]


class ScriptedTryton:
    """Answers login and preferences like Tryton; everything else goes to ``handler``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.calls: list[str] = []
        self.logins = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/demo/rpc/"
        body = json.loads(request.content)
        method, params = body["method"], body["params"]
        self.calls.append(method)
        if method == "common.db.login":
            self.logins += 1
            return ok(body, [7, f"session{self.logins}", None])
        if method == "common.db.logout":
            return ok(body, None)
        if method == "model.res.user.get_preferences":
            return ok(body, {"company": 1, "companies": [1], "language": "en", "company.rec_name": "X", "locale": {}})
        assert self.handler is not None, method
        return self.handler(method, params, request)


def ok(body: dict[str, Any], result: Any) -> httpx.Response:
    return httpx.Response(200, json={"id": body["id"], "result": result})


def error(payload: Any) -> httpx.Response:
    return httpx.Response(200, json={"id": 1, "error": payload})


def provider(server: Callable[[httpx.Request], httpx.Response], **settings: Any) -> TrytonProvider:
    return TrytonProvider({**SETTINGS, **settings}, CREDENTIALS, transport=httpx.MockTransport(server))


def test_tagged_values_round_trip() -> None:
    values = [Decimal("24.00"), dt.date(2026, 11, 24), dt.datetime(2026, 11, 24, 10, 5, 3, 120)]
    wire = json.dumps(values, default=encode)
    assert json.loads(wire)[0] == {"__class__": "Decimal", "decimal": "24.00"}
    assert json.loads(wire)[1] == {"__class__": "date", "year": 2026, "month": 11, "day": 24}
    assert json.loads(wire, object_hook=decode) == values


def test_session_header_and_context_as_last_parameter() -> None:
    seen: list[httpx.Request] = []

    def handler(method: str, params: list[Any], request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert params[-1]["company"] == 1 and "locale" not in params[-1] and "company.rec_name" not in params[-1]
        return ok(json.loads(request.content), [{"id": 1, "rec_name": "Sandbox Company", "currency.": {"code": "USD"}}])

    with provider(ScriptedTryton(handler)) as adapter:
        assert adapter.check().organization_name == "Sandbox Company"
    token = base64.b64encode(b"alice:7:session1").decode()
    assert seen[0].headers["Authorization"] == f"Session {token}"


def test_wrong_password_answers_401_html() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=HTML_401, headers={"Content-Type": "text/html"})

    with provider(server) as adapter, pytest.raises(AuthenticationError) as caught:
        adapter.check()
    assert "alice" in caught.value.message and "pa55word" not in repr(caught.value.to_errors())


def test_too_many_failed_logins_is_retryable() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, text="<h1>Too Many Requests</h1>", headers={"Retry-After": "60"})

    with provider(server) as adapter, pytest.raises(RetryableError) as caught:
        adapter.check()
    assert caught.value.retry_after == 60.0


def test_unknown_database_names_the_setting() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<h1>Not Found</h1>")

    with provider(server) as adapter, pytest.raises(DataError) as caught:
        adapter.check()
    assert caught.value.field == "database"


def test_expired_session_logs_in_again_once() -> None:
    answers = iter([httpx.Response(401, text=HTML_401)])

    def handler(method: str, params: list[Any], request: httpx.Request) -> httpx.Response:
        try:
            return next(answers)
        except StopIteration:
            return ok(json.loads(request.content), [{"id": 1, "rec_name": "X", "currency.": {"code": "USD"}}])

    server = ScriptedTryton(handler)
    with provider(server) as adapter:
        adapter.check()
    assert server.logins == 2


def test_a_session_rejected_twice_is_an_authentication_error() -> None:
    server = ScriptedTryton(lambda method, params, request: httpx.Response(401, text=HTML_401))
    with provider(server) as adapter, pytest.raises(AuthenticationError):
        adapter.check()
    assert server.logins == 2


@pytest.mark.parametrize(
    ("answer", "expected", "text"),
    [
        (
            error(["UserError", ['You cannot modify invoice "7" because it is posted.', "", None]]),
            DataError,
            "because it is posted",
        ),
        (
            error(["UserWarning", ["abc.invoice_similar", "The invoice is similar to 3.", ""]]),
            TrytonUserWarning,
            "similar",
        ),
        (error(["ConcurrencyException", "Records were modified in the meanwhile"]), RetryableError, "concurrent"),
        (error(["'res.user'", "Traceback (most recent call last): secret stuff"]), RetryableError, "internal error"),
        (httpx.Response(422, text="<h1>Missing context argument</h1>"), DataError, "422"),
        (httpx.Response(403, text="<h1>Forbidden</h1>"), DataError, "403"),
        (httpx.Response(500, text="<h1>Internal Server Error</h1>"), RetryableError, "500"),
        (httpx.Response(503, text="busy", headers={"Retry-After": "5"}), RetryableError, "503"),
        (httpx.Response(200, text="<html>proxy page</html>"), RetryableError, "not JSON-RPC"),
    ],
)
def test_error_mapping(answer: httpx.Response, expected: type[Exception], text: str) -> None:
    server = ScriptedTryton(lambda method, params, request: answer)
    with provider(server) as adapter, pytest.raises(expected) as caught:
        list(adapter.list_tax_rates())
    assert text in caught.value.message  # type: ignore[attr-defined]
    assert "Traceback" not in caught.value.message  # type: ignore[attr-defined]


def test_user_warning_name_is_kept() -> None:
    server = ScriptedTryton(lambda m, p, r: error(["UserWarning", ["abc.invoice_similar", "Similar.", ""]]))
    with provider(server) as adapter, pytest.raises(TrytonUserWarning) as caught:
        list(adapter.list_tax_rates())
    assert caught.value.name == "abc.invoice_similar"


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("gone")]
)
def test_network_failures_are_retryable(exc: httpx.TransportError) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        raise exc

    with provider(server) as adapter, pytest.raises(RetryableError):
        adapter.check()


@pytest.mark.parametrize(
    ("settings", "credentials", "field"),
    [
        ({"database": "demo"}, {"username": "a", "password": "b"}, "url"),
        ({"url": "ftp://x", "database": "demo"}, {"username": "a", "password": "b"}, "url"),
        ({"url": "http://", "database": "demo"}, {"username": "a", "password": "b"}, "url"),
        ({"url": "http://x:8000"}, {"username": "a", "password": "b"}, "database"),
        ({"url": "http://x:8000", "database": " "}, {"username": "a", "password": "b"}, "database"),
        ({**SETTINGS, "post_documents": "yes"}, {"username": "a", "password": "b"}, "post_documents"),
        ({**SETTINGS, "company": "1"}, {"username": "a", "password": "b"}, "company"),
        ({**SETTINGS, "company": 0}, {"username": "a", "password": "b"}, "company"),
        ({**SETTINGS, "page_size": 0}, {"username": "a", "password": "b"}, "page_size"),
        (SETTINGS, {"password": "b"}, "username"),
        (SETTINGS, {"username": "a", "password": ""}, "password"),
    ],
)
def test_validate_settings_names_the_field(settings: dict[str, Any], credentials: dict[str, Any], field: str) -> None:
    with pytest.raises(DataError) as caught:
        TrytonProvider.validate_settings(settings, credentials)
    assert caught.value.field == field


def test_valid_settings_pass() -> None:
    TrytonProvider.validate_settings({**SETTINGS, "post_documents": True, "company": 1, "page_size": 2}, CREDENTIALS)


def test_company_the_user_cannot_use_is_a_data_error() -> None:
    with provider(ScriptedTryton(), company=5) as adapter, pytest.raises(DataError) as caught:
        list(adapter.iter_document_ids(DocumentKind.PAYABLE))
    assert caught.value.field == "company"


def test_a_malformed_cursor_is_a_data_error() -> None:
    with provider(ScriptedTryton()) as adapter, pytest.raises(DataError) as caught:
        list(adapter.iter_documents(DocumentKind.PAYABLE, "garbage"))
    assert caught.value.field == "cursor"
