"""The address classifier (no traffic at all) and the guarded connections (only to loopback, with loopback
disallowed, plus one test double that pretends to have been sent elsewhere)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx
import pytest

from providers.addresses import (
    AddressKind,
    AddressNotAllowed,
    AddressPolicy,
    GuardedNetworkBackend,
    HostNotFound,
    check_host,
    classify,
    guarded_transport,
    parse_address,
    resolve,
)
from providers.http import network_transport

K = AddressKind


@pytest.mark.parametrize(("address", "kind"), [
    ("8.8.8.8", K.PUBLIC), ("1.1.1.1", K.PUBLIC), ("172.32.0.1", K.PUBLIC), ("2606:4700:4700::1111", K.PUBLIC),
    ("2a00:1450:4001:80b::200e", K.PUBLIC),
    ("127.0.0.1", K.LOOPBACK), ("127.255.255.254", K.LOOPBACK), ("::1", K.LOOPBACK), ("[::1]", K.LOOPBACK),
    ("::ffff:127.0.0.1", K.LOOPBACK), ("64:ff9b::7f00:1", K.LOOPBACK), ("2002:7f00:1::", K.LOOPBACK),
    ("10.1.2.3", K.PRIVATE), ("172.16.0.1", K.PRIVATE), ("172.31.255.255", K.PRIVATE), ("192.168.1.1", K.PRIVATE),
    ("100.64.0.1", K.PRIVATE), ("fd12:3456::1", K.PRIVATE), ("fc00::1", K.PRIVATE), ("::ffff:10.0.0.1", K.PRIVATE),
    ("64:ff9b::a00:1", K.PRIVATE), ("fec0::1", K.PRIVATE),
    ("169.254.1.1", K.LINK_LOCAL), ("fe80::1", K.LINK_LOCAL), ("fe80::1%eth0", K.LINK_LOCAL),
    ("169.254.169.254", K.METADATA), ("fd00:ec2::254", K.METADATA), ("::ffff:169.254.169.254", K.METADATA),
    ("169.254.170.2", K.METADATA), ("100.100.100.200", K.METADATA), ("168.63.129.16", K.METADATA),
    ("224.0.0.1", K.MULTICAST), ("239.255.255.250", K.MULTICAST), ("ff02::1", K.MULTICAST),
    ("0.0.0.0", K.RESERVED), ("::", K.RESERVED), ("240.0.0.1", K.RESERVED), ("255.255.255.255", K.RESERVED),
    ("192.0.2.1", K.RESERVED), ("198.51.100.7", K.RESERVED), ("203.0.113.9", K.RESERVED), ("198.18.0.1", K.RESERVED),
    ("2001:db8::1", K.RESERVED), ("100::1", K.RESERVED), ("::7f00:1", K.RESERVED),
])
def test_classify(address: str, kind: AddressKind) -> None:
    assert classify(address) is kind


def test_text_that_is_not_an_address_is_a_value_error() -> None:
    for text in ("localhost", "300.1.1.1", "", "::g"):
        with pytest.raises(ValueError):
            classify(text)


def test_the_policy_allows_public_addresses_only_unless_told_more() -> None:
    default = AddressPolicy()
    assert default.permits("8.8.8.8") and not default.permits("127.0.0.1") and not default.permits("10.0.0.1")
    with pytest.raises(AddressNotAllowed) as refused:
        default.check("::ffff:127.0.0.1", "example.test")
    assert refused.value.kind is K.LOOPBACK
    assert str(refused.value) == ("example.test (::ffff:127.0.0.1) is a loopback address; booksync does not connect to "
                                  "loopback addresses")
    loose = AddressPolicy.allowing(["loopback", "private", "link_local"])
    assert loose.permits("127.0.0.1") and loose.permits("10.0.0.1") and loose.permits("169.254.1.1")
    assert not loose.permits("169.254.169.254"), "the metadata endpoints are refused unless named"
    assert not loose.permits("fd00:ec2::254")
    assert AddressPolicy.allowing(["metadata"]).permits("169.254.169.254")


def test_resolving_checks_every_address_of_a_name() -> None:
    assert resolve("127.0.0.1") == [parse_address("127.0.0.1")]
    addresses = resolve("localhost", 80)  # /etc/hosts: no DNS traffic
    assert addresses and all(classify(address) is K.LOOPBACK for address in addresses)
    with pytest.raises(AddressNotAllowed):
        check_host("localhost", 80, AddressPolicy())
    assert check_host("localhost", 80, AddressPolicy.allowing(["loopback"])) == addresses
    with pytest.raises(HostNotFound):
        resolve("bad..host")  # refused by the IDNA codec before any lookup


class _Listener:
    """A loopback TCP server answering every request with 200; counts the connections it accepted."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    yield server
    server.close()


def _get(transport: httpx.BaseTransport, url: str) -> httpx.Response:
    with httpx.Client(transport=transport, trust_env=False, follow_redirects=False, timeout=5) as client:
        return client.get(url)


def test_the_guard_never_connects_to_a_refused_address(listener: _Listener) -> None:
    for host in ("127.0.0.1", "localhost"):
        for transport in (guarded_transport(AddressPolicy()), network_transport(address_policy=AddressPolicy())):
            with pytest.raises(AddressNotAllowed) as refused:
                _get(transport, f"http://{host}:{listener.port}/")
            assert refused.value.kind is K.LOOPBACK
    assert listener.accepted == 0


def test_the_guard_connects_where_the_policy_allows(listener: _Listener) -> None:
    allowed = AddressPolicy.allowing(["loopback"])
    assert _get(guarded_transport(allowed), f"http://localhost:{listener.port}/").status_code == 200
    assert _get(network_transport(address_policy=allowed), f"http://127.0.0.1:{listener.port}/").text == "ok"
    assert listener.accepted == 2


class _Elsewhere(httpcore.NetworkBackend):
    """Connects to the loopback listener whatever address it is asked for (a resolver or a NAT that sends
    the connection somewhere else than the address checked)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpcore.SyncBackend()
        self.asked: list[str] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        self.asked.append(host)
        return self.inner.connect_tcp("127.0.0.1", self.port, timeout)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def test_the_peer_actually_connected_to_is_checked_too(listener: _Listener) -> None:
    elsewhere = _Elsewhere(listener.port)
    backend = GuardedNetworkBackend(AddressPolicy(), elsewhere)
    with pytest.raises(AddressNotAllowed) as refused:
        backend.connect_tcp("8.8.8.8", 80, timeout=5)  # a public address: allowed, but the socket lands on loopback
    assert elsewhere.asked == ["8.8.8.8"]
    assert refused.value.kind is K.LOOPBACK and str(refused.value.address) == "127.0.0.1"


def test_unix_sockets_are_refused() -> None:
    with pytest.raises(httpcore.ConnectError):
        GuardedNetworkBackend(AddressPolicy.allowing(list(K))).connect_unix_socket("/var/run/docker.sock")
