"""A tenant's Tryton URL cannot make booksync call into its own network, nor tell open ports from closed.

Every test here sends traffic to loopback only, with loopback disallowed (as in production), and checks
with a counting listener that nothing connected. DNS answers that would lead elsewhere come from a
stubbed resolver: nothing is ever sent to the addresses they name.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import providers.addresses
from config.secrets import Credentials
from providers.addresses import AddressPolicy
from providers.errors import DataError
from providers.http import HttpSettings
from providers.tryton import TrytonProvider
from tests.api.conftest import Tenant, make_tenant
from tests.faults.tally import TALLY
from tests.support.env import booksync_env

pytestmark = pytest.mark.faults

CREDENTIALS = {"username": "admin", "password": "not-the-real-one"}
PUBLIC_ONLY = HttpSettings(connect=2.0, read=2.0, call_timeout=3.0)


class CountingListener:
    """A loopback port that accepts connections, counts them and closes them (an open port that is not Tryton)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    server = CountingListener()
    yield server
    server.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


@pytest.fixture
def tenant_api(pg_url: str, redis_url: str) -> Iterator[Callable[..., tuple[TestClient, Tenant]]]:
    """The API as production runs it (public addresses only), or with ``allowed`` kinds."""
    from api.app import create_app
    from models.db import get_sessionmaker

    opened: list[TestClient] = []

    def start(allowed: str = "") -> tuple[TestClient, Tenant]:
        env = booksync_env(database_url=pg_url, broker_url=redis_url, provider_allowed_addresses=allowed)
        env.__enter__()
        test_client = TestClient(create_app())
        test_client.__enter__()
        opened.append(test_client)
        with get_sessionmaker()() as session:
            tenant = make_tenant(session, f"SSRF {len(opened)}")
        test_client._booksync_env = env  # type: ignore[attr-defined]
        return test_client, tenant

    yield start
    for test_client in opened:
        test_client.__exit__(None, None, None)
        test_client._booksync_env.__exit__(None, None, None)  # type: ignore[attr-defined]


def _connect(api: TestClient, tenant: Tenant, url: str) -> httpx.Response:
    return api.post("/accounting-connections", headers=tenant.headers, json={
        "platform": "tryton", "settings": {"url": url, "database": "books"}, "credentials": CREDENTIALS,
    })


LOOPBACK_SPELLINGS = (
    "http://127.0.0.1:{port}", "http://127.1.2.3:{port}", "http://localhost:{port}", "http://[::ffff:127.0.0.1]:{port}",
    "http://2130706433:{port}", "http://0x7f000001:{port}", "http://0177.0.0.1:{port}", "https://127.0.0.1:{port}",
)


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_a_loopback_url_is_refused_before_anything_connects(
    tenant_api: Callable[..., tuple[TestClient, Tenant]], listener: CountingListener, spelling: str
) -> None:
    api, tenant = tenant_api()
    response = _connect(api, tenant, spelling.format(port=listener.port))
    body = response.json()
    survived = response.status_code == 422 and listener.accepted == 0
    TALLY.fault(survived)
    assert response.status_code == 422, body
    assert "settings.url" in str(body) and "loopback" in str(body), body
    assert "BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES" in str(body), body
    assert listener.accepted == 0
    assert api.get("/accounting-connections", headers=tenant.headers).json()["data"] == []


def test_open_and_closed_ports_get_the_same_answer(
    tenant_api: Callable[..., tuple[TestClient, Tenant]], listener: CountingListener
) -> None:
    """Production refuses both alike before connecting; where loopback is allowed (a Tryton on this
    host), a port that accepts and drops the connection answers exactly like one that refuses it."""
    for allowed in ("", "loopback"):
        api, tenant = tenant_api(allowed)
        open_answer = _connect(api, tenant, f"http://127.0.0.1:{listener.port}")
        closed_answer = _connect(api, tenant, f"http://127.0.0.1:{closed_port()}")
        survived = (open_answer.status_code, _without_port(open_answer.json())) == (
            closed_answer.status_code, _without_port(closed_answer.json()))
        TALLY.fault(survived)
        assert open_answer.status_code == closed_answer.status_code == (422 if not allowed else 503)
        assert _without_port(open_answer.json()) == _without_port(closed_answer.json())
        assert "no answer came from the server" in open_answer.text or not allowed
    assert listener.accepted == 1  # the one call loopback was allowed for


def _without_port(body: dict[str, Any]) -> str:
    import re

    return re.sub(r":\d+", ":PORT", str(body))


def test_dns_cannot_slip_past_the_check(monkeypatch: pytest.MonkeyPatch, listener: CountingListener) -> None:
    """A name that resolves to a public address when checked and to loopback when connected (DNS
    rebinding) is refused at connect time: the client resolves again and checks what it connects to."""
    answers = iter([["93.184.215.14"]])
    real = providers.addresses.socket.getaddrinfo

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "books.rebind.test":
            return real(host, port, *args, **kwargs)
        address = next(answers, ["127.0.0.1"])[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(providers.addresses.socket, "getaddrinfo", rebinding)
    provider = TrytonProvider(
        {"url": f"http://books.rebind.test:{listener.port}", "database": "books"}, Credentials(CREDENTIALS),
        http_settings=PUBLIC_ONLY,
    )  # checked: public
    with provider, pytest.raises(DataError) as refused:
        provider.check()  # connects: loopback now
    TALLY.fault(listener.accepted == 0)
    assert refused.value.field == "url"
    assert "books.rebind.test (127.0.0.1) is a loopback address" in refused.value.message
    assert listener.accepted == 0


def test_a_sync_of_a_connection_pointing_inward_fails_with_the_reason(
    pg_url: str, listener: CountingListener
) -> None:
    """A connection stored before the rule (or by someone going around the API) does not sync into the
    private network either: the sync fails with the reason on the connection and connects nowhere."""
    from models import AccountingConnection, ConnectionStatus
    from models.db import get_sessionmaker
    from tasks.engine import sync
    from tests.tasks.conftest import make_organization

    with booksync_env(database_url=pg_url, provider_allowed_addresses=""), get_sessionmaker()() as session:
        org = make_organization(session)
        connection = AccountingConnection(
            organization_id=org.id, platform="tryton", status=ConnectionStatus.CONNECTED.value,
            settings={"url": f"http://127.0.0.1:{listener.port}", "database": "books"}, credentials=CREDENTIALS,
        )
        session.add(connection)
        session.commit()
        summary = sync.run_sync(get_sessionmaker(), connection.id, "manual")
        session.refresh(connection)
    TALLY.fault(summary.status == "failed" and listener.accepted == 0)
    assert summary.status == "failed"
    assert "127.0.0.1 is a loopback address" in connection.errors[0]["message"]
    assert listener.accepted == 0


def test_the_setting_allows_named_kinds_only() -> None:
    from config.settings import Settings

    assert Settings(provider_allowed_addresses="").provider_address_policy == AddressPolicy()
    assert Settings(provider_allowed_addresses="loopback,private").provider_address_policy.permits("10.0.0.1")
    assert not Settings(provider_allowed_addresses="loopback,private").provider_address_policy.permits("169.254.169.254")
    with pytest.raises(ValueError, match="unknown address kind 'intranet'"):
        Settings(provider_allowed_addresses="intranet")
