"""Which network addresses booksync may connect to, and connections that keep to them (no SSRF).

A URL someone else gives booksync (a webhook receiver; an accounting system's server URL) must not be
a way into the network booksync runs in: its loopback services, the private network, the cloud's
metadata service. Three parts:

- ``classify(address)`` says what an address is: ``public``, ``loopback``, ``private``, ``link_local``,
  ``metadata``, ``multicast`` or ``reserved``. The tables follow IANA's IPv4 and IPv6 Special-Purpose
  Address Registries (RFC 6890 and its updates); IPv4 addresses carried inside IPv6 (IPv4-mapped
  ``::ffff:0:0/96``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the IPv4 address they
  carry, so ``::ffff:127.0.0.1`` is loopback. The cloud metadata endpoints are their own kind, so that
  allowing link-local or private addresses never allows them by accident.
- ``AddressPolicy`` is the set of kinds allowed (public only, by default); ``check_host`` resolves a
  name and checks every address it resolves to (one bad address refuses the host: a name that
  answers both a public and a private address is how DNS rebinding starts).
- ``GuardedNetworkBackend`` is an httpcore network backend that resolves, checks, connects to an
  address it checked (never resolving again, so DNS cannot change the answer in between) and checks
  the peer the socket is actually connected to. ``guarded_transport`` is an httpx transport over it;
  ``providers.http.network_transport(address_policy=...)`` adds the call-deadline sockets as well.
  TLS still verifies the certificate against the host name: only the TCP connection goes to the
  address.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressKind(enum.StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    METADATA = "metadata"
    MULTICAST = "multicast"
    RESERVED = "reserved"


#: Instance metadata and platform endpoints of the clouds booksync may run in; refused even where
#: link-local or private addresses are allowed.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack instance metadata
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.169.253",  # AWS VPC DNS resolver
        "169.254.169.123",  # AWS Time Sync
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::253",  # AWS VPC DNS resolver over IPv6
        "100.100.100.200",  # Alibaba Cloud instance metadata
        "168.63.129.16",  # Azure platform (WireServer), a public address
    )
)

_V4: tuple[tuple[str, AddressKind], ...] = (
    ("0.0.0.0/8", AddressKind.RESERVED),  # "this network"; 0.0.0.0 reaches the local host on Linux
    ("10.0.0.0/8", AddressKind.PRIVATE),
    ("100.64.0.0/10", AddressKind.PRIVATE),  # shared address space (carrier-grade NAT, RFC 6598)
    ("127.0.0.0/8", AddressKind.LOOPBACK),
    ("169.254.0.0/16", AddressKind.LINK_LOCAL),
    ("172.16.0.0/12", AddressKind.PRIVATE),
    ("192.0.0.0/24", AddressKind.RESERVED),  # IETF protocol assignments
    ("192.0.2.0/24", AddressKind.RESERVED),  # documentation (TEST-NET-1)
    ("192.88.99.0/24", AddressKind.RESERVED),  # 6to4 relay anycast (deprecated)
    ("192.168.0.0/16", AddressKind.PRIVATE),
    ("198.18.0.0/15", AddressKind.RESERVED),  # benchmarking
    ("198.51.100.0/24", AddressKind.RESERVED),  # documentation (TEST-NET-2)
    ("203.0.113.0/24", AddressKind.RESERVED),  # documentation (TEST-NET-3)
    ("224.0.0.0/4", AddressKind.MULTICAST),
    ("240.0.0.0/4", AddressKind.RESERVED),  # reserved, and 255.255.255.255 (limited broadcast)
)
_V6: tuple[tuple[str, AddressKind], ...] = (
    ("::/128", AddressKind.RESERVED),  # unspecified
    ("::1/128", AddressKind.LOOPBACK),
    ("::/96", AddressKind.RESERVED),  # IPv4-compatible (deprecated)
    ("64:ff9b:1::/48", AddressKind.PRIVATE),  # local-use IPv4/IPv6 translation
    ("100::/64", AddressKind.RESERVED),  # discard-only
    ("2001::/23", AddressKind.RESERVED),  # IETF protocol assignments (Teredo, ORCHID, benchmarking...)
    ("2001:db8::/32", AddressKind.RESERVED),  # documentation
    ("3fff::/20", AddressKind.RESERVED),  # documentation
    ("5f00::/16", AddressKind.RESERVED),  # segment routing SIDs
    ("fc00::/7", AddressKind.PRIVATE),  # unique local
    ("fe80::/10", AddressKind.LINK_LOCAL),
    ("fec0::/10", AddressKind.PRIVATE),  # site-local (deprecated, still routed inside some networks)
    ("ff00::/8", AddressKind.MULTICAST),
)
_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, AddressKind], ...] = tuple(
    # most specific first, so that ::1/128 wins over ::/96
    sorted(((ipaddress.ip_network(net), kind) for net, kind in (*_V4, *_V6)), key=lambda item: -item[0].prefixlen)
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_address(value: str | IPAddress) -> IPAddress:
    """An address from text as URLs and sockets write it (``[::1]``, ``fe80::1%eth0``); ValueError otherwise."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return ipaddress.ip_address(text.split("%", 1)[0])


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64 well-known prefix, 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def classify(value: str | IPAddress) -> AddressKind:
    """What kind of address this is; raises ValueError for text that is not an IP address."""
    address = parse_address(value)
    if address in METADATA_ADDRESSES:
        return AddressKind.METADATA
    if isinstance(address, ipaddress.IPv6Address):
        carried = embedded_ipv4(address)
        if carried is not None:
            return classify(carried)
    for network, kind in _NETWORKS:
        if address.version == network.version and address in network:
            return kind
    return AddressKind.PUBLIC if address.is_global else AddressKind.RESERVED


class AddressNotAllowed(Exception):
    """A host resolves to an address of a kind the policy refuses. The message names host, address and kind."""

    def __init__(self, host: str, address: IPAddress, kind: AddressKind) -> None:
        self.host = host
        self.address = address
        self.kind = kind
        what = "a cloud metadata" if kind is AddressKind.METADATA else f"a {kind.value.replace('_', '-')}"
        text = _shown(address)
        shown = text if host in (text, str(address)) else f"{host} ({text})"
        super().__init__(f"{shown} is {what} address; booksync does not connect to {kind.value} addresses")


def _shown(address: IPAddress) -> str:
    """``::ffff:127.0.0.1`` rather than ``::ffff:7f00:1``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


class HostNotFound(LookupError):
    """The name does not resolve to any address."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """The kinds of address connections may go to: public ones only unless more are allowed."""

    allowed: frozenset[AddressKind] = field(default_factory=lambda: frozenset({AddressKind.PUBLIC}))

    @classmethod
    def allowing(cls, kinds: Iterable[AddressKind | str] = ()) -> AddressPolicy:
        """Public addresses and ``kinds`` (names such as ``"loopback"`` are accepted)."""
        return cls(frozenset({AddressKind.PUBLIC, *(AddressKind(kind) for kind in kinds)}))

    def permits(self, value: str | IPAddress) -> bool:
        return classify(value) in self.allowed

    def check(self, value: str | IPAddress, host: str | None = None) -> IPAddress:
        """The address, if the policy allows it; raises AddressNotAllowed otherwise."""
        address = parse_address(value)
        kind = classify(address)
        if kind not in self.allowed:
            raise AddressNotAllowed(host or str(address), address, kind)
        return address


def resolve(host: str, port: int = 443) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order (an IP literal is itself, no lookup)."""
    try:
        return [parse_address(host)]
    except ValueError:
        pass
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostNotFound(f"{host} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in answers:
        address = parse_address(str(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostNotFound(f"{host} does not resolve to any address")
    return addresses


def check_host(host: str, port: int, policy: AddressPolicy) -> list[IPAddress]:
    """Resolve ``host`` and check every address; all must pass. Raises AddressNotAllowed or HostNotFound."""
    return [policy.check(address, host) for address in resolve(host, port)]


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """Connects only to addresses ``policy`` allows: the addresses the name resolves to now, and the peer
    the socket ends up connected to. Unix sockets are refused."""

    def __init__(self, policy: AddressPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self.policy = policy
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = check_host(host, port, self.policy)
        except HostNotFound as exc:
            raise httpcore.ConnectError(str(exc)) from None
        return self._connect_first(host, port, addresses, timeout, local_address, socket_options)

    def _connect_first(
        self, host: str, port: int, addresses: Sequence[IPAddress], timeout: float | None,
        local_address: str | None, socket_options: Any,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            try:
                self._check_peer(host, stream)
            except BaseException:
                stream.close()
                raise
            return stream
        assert last is not None
        raise last

    def _check_peer(self, host: str, stream: httpcore.NetworkStream) -> None:
        sock = stream.get_extra_info("socket")
        if sock is None:  # a backend without sockets (a test double): nothing more to check
            return
        self.policy.check(str(sock.getpeername()[0]), host)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("connections to unix sockets are not allowed here")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def guarded_pool(
    policy: AddressPolicy, limits: httpx.Limits | None = None, inner: httpcore.NetworkBackend | None = None
) -> httpcore.ConnectionPool:
    """httpx's connection pool, as ``httpx.HTTPTransport`` builds it, over ``GuardedNetworkBackend``."""
    limits = limits or httpx.Limits()
    return httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetworkBackend(policy, inner),
    )


def guarded_transport(
    policy: AddressPolicy, *, limits: httpx.Limits | None = None, inner: httpcore.NetworkBackend | None = None
) -> httpx.HTTPTransport:
    """An httpx transport that connects only where ``policy`` allows (build the client with
    ``trust_env=False`` and ``follow_redirects=False``: a proxy or a redirect would go around it)."""
    transport = httpx.HTTPTransport(limits=limits or httpx.Limits())
    transport._pool = guarded_pool(policy, limits, inner)  # noqa: SLF001 -- httpx has no network_backend argument
    return transport


__all__ = [
    "METADATA_ADDRESSES",
    "AddressKind",
    "AddressNotAllowed",
    "AddressPolicy",
    "GuardedNetworkBackend",
    "HostNotFound",
    "IPAddress",
    "check_host",
    "classify",
    "embedded_ipv4",
    "guarded_pool",
    "guarded_transport",
    "parse_address",
    "resolve",
]
