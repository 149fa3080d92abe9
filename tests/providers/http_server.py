"""A real HTTP/1.1 server on loopback that misbehaves on request, for the HTTP layer's bounds.

Routes (query parameters in brackets):

- ``/ok``: a small JSON answer; ``[header=Name:value]`` (repeatable) adds answer headers.
- ``/status/<code>``: that status, with ``[header=...]`` as above (a 429 with ``Retry-After``).
- ``/big``: declares ``Content-Length: [bytes]`` (default 50 MB) and sends zeros until the client goes.
- ``/big-chunked``: a chunked body that grows by 64 kB at a time up to ``[bytes]``.
- ``/gzip``: ``[bytes]`` of zeros (default 20 MB), gzip-compressed to a few kilobytes.
- ``/trickle-headers``: a status line, then one byte of a header every ``[every]`` seconds.
- ``/trickle-body``: a 100-byte body sent one byte every ``[every]`` seconds.

Every loop is bounded (by bytes or by 60 s) and stops when the client disconnects or the server stops.
"""

from __future__ import annotations

import gzip
import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

BODY_MARKER = b"do-not-quote-this-body"
MAX_SECONDS = 60


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            request_line = self.rfile.readline(8192).decode("latin-1")
            length = 0
            while True:
                line = self.rfile.readline(8192)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                self.rfile.read(length)
            method, target, _ = request_line.split(" ", 2)
            self.server.requests.append((method, target))
            url = urlsplit(target)
            self._route(url.path, {k: v for k, v in parse_qs(url.query).items()})
        except (BrokenPipeError, ConnectionResetError, ValueError):
            return

    def _send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _headers(self, status: str, headers: list[tuple[str, str]]) -> None:
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers), "", ""]
        self._send("\r\n".join(lines).encode("latin-1"))

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        stopping = self.server.stopping
        extra = [tuple(h.split(":", 1)) for h in query.get("header", [])]
        size = int(query.get("bytes", ["50000000"])[0])
        every = float(query.get("every", ["1"])[0])
        if path == "/ok" or path.startswith("/status/"):
            status = path.removeprefix("/status/") if path.startswith("/status/") else "200"
            body = json.dumps({"ok": True}).encode()
            self._headers(f"{status} X", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                          *extra])  # type: ignore[list-item]
            self._send(body)
        elif path == "/big":
            self._headers("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
            self._stream_zeros(size, chunked=False)
        elif path == "/big-chunked":
            self._headers("200 OK", [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")])
            self._stream_zeros(size, chunked=True)
        elif path == "/gzip":
            size = int(query.get("bytes", ["20000000"])[0])
            body = gzip.compress(b"0" * size, compresslevel=9)
            self._headers("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                     ("Content-Length", str(len(body)))])
            self._send(body)
        elif path == "/trickle-headers":
            self._send(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(int(MAX_SECONDS / every)):
                if stopping.wait(every):
                    return
                self._send(b"a")
        elif path == "/trickle-body":
            self._headers("200 OK", [("Content-Type", "application/json"), ("Content-Length", "100")])
            for _ in range(min(100, int(MAX_SECONDS / every))):
                if stopping.wait(every):
                    return
                self._send(BODY_MARKER[:1])
        else:
            self._headers("404 Not Found", [("Content-Length", "0")])

    def _stream_zeros(self, size: int, *, chunked: bool) -> None:
        chunk = BODY_MARKER + b"0" * (65536 - len(BODY_MARKER))
        sent = 0
        while sent < size and not self.server.stopping.is_set():
            piece = chunk[: size - sent]
            self._send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
            self.server.bytes_sent += len(piece)
        if chunked:
            self._send(b"0\r\n\r\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stopping = threading.Event()
        self.requests: list[tuple[str, str]] = []
        self.bytes_sent = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def misbehaving_server() -> Iterator[_Server]:
    """The server, listening on a free loopback port (``server.url``)."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
