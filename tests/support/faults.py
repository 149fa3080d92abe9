"""Things the fault tests break for real: a redis-server the test owns, and a TCP proxy it controls.

Neither touches the machine's shared PostgreSQL or Redis: the Redis server is the test's own process
on a free loopback port, and the proxy sits between booksync and the shared PostgreSQL, so cutting
the proxy cuts booksync off while the server itself keeps running for everyone else.
"""

from __future__ import annotations

import enum
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.support.processes import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own, which the test may stop and start again on the same port."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian package redis-server)", pytrace=False)
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class ProxyMode(enum.Enum):
    PASS = "pass"            # forward both ways
    REFUSE = "refuse"        # close every connection, refuse new ones: a server that is down
    BLACKHOLE = "blackhole"  # keep connections open but forward nothing: a silent network partition


class TcpProxy:
    """Forwards 127.0.0.1:<port> to an upstream address; the test switches what the network does."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.mode = ProxyMode.PASS
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._running = False

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener.settimeout(0.2)
        self._running = True
        threading.Thread(target=self._accept, name="tcp-proxy-accept", daemon=True).start()

    def close(self) -> None:
        self._running = False
        self._drop_all()
        if self._listener is not None:
            self._listener.close()

    def set(self, mode: ProxyMode) -> None:
        self.mode = mode
        if mode is ProxyMode.REFUSE:
            self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._open = set(self._open), set()
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while self._running:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode is ProxyMode.REFUSE:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update({client, upstream})
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        source.settimeout(0.2)
        while self._running:
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            while self.mode is ProxyMode.BLACKHOLE and self._running and source in self._open:
                threading.Event().wait(0.05)  # hold the bytes: nothing arrives, nothing is refused
            if source not in self._open:
                break
            try:
                target.sendall(data)
            except OSError:
                break
        for sock in (source, target):
            with suppress(OSError):
                sock.close()
            with self._lock:
                self._open.discard(sock)


@contextmanager
def tcp_proxy(upstream_host: str, upstream_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(upstream_host, upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
