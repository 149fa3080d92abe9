"""Provider answers of every wrong kind: each ends in a documented state, never an unexpected exception.

Against a server speaking Tryton's JSON-RPC (``tests/support/hostile_tryton.py``): a wrong answer from
the accounting system is a ``ProviderError`` naming it — retried (``RetryableError``, of which
``MalformedAnswer``), refused data (``DataError``), or refused credentials (``AuthenticationError``) —
within a bound; the API answers it 502/503/422, never 500; the sync records it and its task retries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.secrets import Credentials
from providers.errors import AuthenticationError, DataError, MalformedAnswer, ProviderError, RetryableError
from providers.addresses import AddressPolicy
from providers.http import HttpSettings
from providers.tryton import TrytonProvider
from providers.types import DocumentKind
from tests.faults.tally import TALLY
from tests.support.hostile_tryton import HostileTryton, hostile_tryton

pytestmark = pytest.mark.faults

CREDENTIALS = {"username": "admin", "password": "hostile-secret-pw"}
BOUNDS = HttpSettings(read=2.0, connect=2.0, call_timeout=3.0, max_response_bytes=1_000_000,
                      tenant_url_policy=AddressPolicy.allowing(["loopback"]))

# (name, method misbehaving, kind, value, the error expected)
WRONG = [
    ("preferences are a list", "model.res.user.get_preferences", "result", [], MalformedAnswer),
    ("preferences are null", "model.res.user.get_preferences", "result", None, MalformedAnswer),
    ("the payload is an array", "model.res.user.get_preferences", "payload", [1, 2], MalformedAnswer),
    ("the company is a string", "model.company.company.read", "result", "Hostile Co", MalformedAnswer),
    ("the company lacks its name", "model.company.company.read", "result", [{"id": 1}], MalformedAnswer),
    ("a Decimal that is not one", "model.company.company.read", "result",
     [{"id": 1, "rec_name": {"__class__": "Decimal", "decimal": "abc"}}], RetryableError),
    ("taxes are an object", "model.account.tax.search_read", "result", {"id": 1}, MalformedAnswer),
    ("a tax without fields", "model.account.tax.search_read", "result", [{"id": 1}], MalformedAnswer),
    ("invoices are a number", "model.account.invoice.search_read", "result", 7, MalformedAnswer),
    ("an invoice of nulls", "model.account.invoice.search_read", "result",
     [{"id": None, "type": None, "state": None, "create_date": None}], MalformedAnswer),
    ("not JSON at all", "model.res.user.get_preferences", "raw", b"<html>gateway timeout</html>", RetryableError),
    ("a huge JSON of the wrong type", "model.res.user.get_preferences", "huge", 5_000_000, RetryableError),
    ("a trickle of one byte a second", "model.res.user.get_preferences", "trickle", 1.0, RetryableError),
    ("cut off half-way", "model.res.user.get_preferences", "truncated", None, RetryableError),
    ("the connection reset", "model.res.user.get_preferences", "reset", None, RetryableError),
    ("HTTP 500", "model.res.user.get_preferences", "status", 500, RetryableError),
    ("HTTP 503", "model.res.user.get_preferences", "status", 503, RetryableError),
    ("a 429 with Retry-After", "model.res.user.get_preferences", "status", (429, {"Retry-After": "7"}), RetryableError),
    ("a JSON-RPC error of an unknown kind", "model.res.user.get_preferences", "rpc_error", ["KeyError", "x"],
     RetryableError),
    ("a JSON-RPC UserError", "model.company.company.read", "rpc_error", ["UserError", ["nope", "", None]], DataError),
    ("the login refused", "common.db.login", "status", 401, AuthenticationError),
]


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileTryton]:
    with hostile_tryton() as server:
        yield server


def _provider(server: HostileTryton) -> TrytonProvider:
    return TrytonProvider(server.settings, Credentials(CREDENTIALS), http_settings=BOUNDS)


def _exercise(provider: TrytonProvider) -> None:
    provider.check()
    list(provider.list_tax_rates())
    for _ in provider.iter_documents(DocumentKind.PAYABLE, None):
        pass


@pytest.mark.parametrize(("name", "method", "kind", "value", "expected"), WRONG, ids=[w[0] for w in WRONG])
def test_each_wrong_answer_is_one_clear_provider_error_within_a_bound(
    hostile: HostileTryton, name: str, method: str, kind: str, value: Any, expected: type[ProviderError]
) -> None:
    hostile.misbehave(method, kind, value)
    started = time.monotonic()
    survived = False
    try:
        with pytest.raises(ProviderError) as caught, _provider(hostile) as provider:
            _exercise(provider)
        error = caught.value
        assert isinstance(error, expected), f"{name}: {type(error).__name__}: {error.message}"
        if not isinstance(error, DataError):  # a data error is Tryton's own words; the sync log prefixes "Tryton: "
            assert "Tryton" in error.message, error.message
        assert CREDENTIALS["password"] not in error.message
        assert time.monotonic() - started < 8, f"{name} took {time.monotonic() - started:.1f}s"
        if kind == "status" and isinstance(value, tuple):
            assert isinstance(error, RetryableError) and error.retry_after == 7
        survived = True
    finally:
        hostile.behave()
        TALLY.fault(survived)


CHECK_CALLS = ("common.db.login", "model.res.user.get_preferences", "model.company.company.read")
AT_CONNECT = [w for w in WRONG if w[1] in CHECK_CALLS and w[4] is not AuthenticationError and w[4] is not DataError]


@pytest.mark.parametrize(("name", "method", "kind", "value", "expected"), AT_CONNECT, ids=[w[0] for w in AT_CONNECT])
def test_connecting_to_a_server_that_answers_wrongly_is_a_502_or_503_never_a_500(
    hostile: HostileTryton, api_client: TestClient, api_tenant: Any, name: str, method: str, kind: str, value: Any,
    expected: type[ProviderError],
) -> None:
    hostile.misbehave(method, kind, value)
    survived = False
    try:
        body = {"platform": "tryton", "settings": hostile.settings, "credentials": CREDENTIALS}
        answer = api_client.post("/accounting-connections", headers=api_tenant.headers, json=body)
        assert answer.status_code in (502, 503), (name, answer.status_code, answer.text)
        assert CREDENTIALS["password"] not in answer.text
        message = answer.json()["error"]["message"]
        assert message.startswith(("the accounting system answered", "could not reach the accounting system")), message
        survived = True
    finally:
        hostile.behave()
        TALLY.fault(survived)


def test_a_sync_against_a_server_that_answers_wrongly_fails_clearly_and_frees_the_connection(
    hostile: HostileTryton, db_url: str
) -> None:
    from sqlalchemy import select

    from models import AccountingConnection
    from models.db import get_sessionmaker
    from tasks.engine import sync
    from tests.tasks.conftest import make_organization

    with get_sessionmaker()() as session:
        org = make_organization(session)
        connection = AccountingConnection(
            organization_id=org.id, platform="tryton", status="connected", settings=hostile.settings,
            credentials=CREDENTIALS, books_id="tryton:hostile", errors=[], cursors={},
        )
        session.add(connection)
        session.commit()
        connection_id = connection.id
    hostile.misbehave("model.account.invoice.search_read", "result", [{"id": "x"}])
    survived = False
    try:
        with pytest.raises(RetryableError) as caught:
            sync.run_sync(get_sessionmaker(), connection_id, "manual")
        assert isinstance(caught.value, MalformedAnswer)
        assert "Tryton answered a page of invoices with data booksync cannot read" in caught.value.message
        with get_sessionmaker()() as session:
            stored = session.scalar(select(AccountingConnection).where(AccountingConnection.id == connection_id))
            assert stored is not None and stored.lease_holder is None and stored.retry_count == 1
        survived = True
    finally:
        hostile.behave()
        TALLY.fault(survived)
