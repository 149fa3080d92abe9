"""A server that speaks Tryton's JSON-RPC well enough to log in, then answers one method the wrong way.

For the fault suite: every kind of wrong answer a broken or hostile accounting server can give
(wrong shapes and types, nulls, missing fields, huge bodies, trickles, 429 storms, 5xx, resets,
cut-off JSON, revoked logins), on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DATABASE = "hostile"

#: What a well-behaved Tryton answers (enough for a check, a pull and a push to start).
GOOD: dict[str, Any] = {
    "common.db.login": [1, "session-token", None],
    "common.db.logout": None,
    "model.res.user.get_preferences": {"company": 1, "companies": [1], "language": "en"},
    "model.company.company.read": [{"id": 1, "rec_name": "Hostile Co", "currency.": {"code": "USD", "id": 1}}],
    "model.account.tax.search_read": [],
    "model.account.account.search_read": [],
    "model.account.invoice.search_read": [],
    "model.account.invoice.search": [],
    "model.currency.currency.search_read": [{"id": 1, "code": "USD", "digits": 2}],
}


@dataclass
class Misbehaviour:
    """How to answer ``method``: ``kind`` is one of the keys of ``HostileTryton.KINDS``."""

    method: str
    kind: str
    value: Any = None
    times: int | None = None  # None: for ever


@dataclass
class HostileTryton:
    port: int
    server: ThreadingHTTPServer
    misbehaviours: list[Misbehaviour] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> dict[str, Any]:
        return {"url": self.url, "database": DATABASE}

    def misbehave(self, method: str, kind: str, value: Any = None, times: int | None = None) -> None:
        self.misbehaviours = [Misbehaviour(method, kind, value, times)]

    def behave(self) -> None:
        self.misbehaviours = []

    def take(self, method: str) -> Misbehaviour | None:
        for item in self.misbehaviours:
            if item.method in (method, "*"):
                if item.times is not None:
                    if item.times <= 0:
                        continue
                    item.times -= 1
                return item
        return None


def _handler(hostile: Callable[[], HostileTryton]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            return None

        def _send(self, status: int, body: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            method, ident = request.get("method", ""), request.get("id")
            server = hostile()
            server.calls.append(method)
            wrong = server.take(method)
            if wrong is None:
                self._send(200, json.dumps({"id": ident, "result": GOOD.get(method)}).encode())
                return
            kind, value = wrong.kind, wrong.value
            if kind == "result":          # a well-formed answer of the wrong shape or type
                self._send(200, json.dumps({"id": ident, "result": value}).encode())
            elif kind == "payload":       # the whole payload is not a JSON-RPC object
                self._send(200, json.dumps(value).encode())
            elif kind == "raw":           # any bytes with a 200
                self._send(200, value if isinstance(value, bytes) else str(value).encode(), "text/html")
            elif kind == "status":        # an HTTP error (value: status, or (status, headers))
                status, headers = value if isinstance(value, tuple) else (value, {})
                self._send(status, b"<html>no</html>", "text/html", headers)
            elif kind == "rpc_error":
                self._send(200, json.dumps({"id": ident, "error": value}).encode())
            elif kind == "huge":          # a valid JSON document of ``value`` bytes, of the wrong type
                filler = b"x" * max(0, int(value) - 40)
                self._send(200, b'{"id": 1, "result": "' + filler + b'"}')
            elif kind == "trickle":       # the answer one byte every ``value`` seconds
                body = json.dumps({"id": ident, "result": GOOD.get(method)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(float(value))
            elif kind == "truncated":     # the answer cut off half-way, then the connection closed
                body = json.dumps({"id": ident, "result": GOOD.get(method) or [1, 2, 3]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            elif kind == "reset":         # the connection reset without an answer
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
            else:
                raise ValueError(kind)

    return Handler


@contextmanager
def hostile_tryton() -> Iterator[HostileTryton]:
    holder: dict[str, HostileTryton] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(lambda: holder["server"]))
    server.daemon_threads = True
    holder["server"] = HostileTryton(server.server_address[1], server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["server"]
    finally:
        server.shutdown()
        server.server_close()
