"""A real webhook receiver on 127.0.0.1: it records every request and answers as each test tells it.

One server per module; each test takes its own path (``Receiver.route``) with its own plan: the
statuses to answer in turn (then 200), a delay before answering, or an event to wait on first (a
receiver that hangs). Waits are bounded.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MAX_HOLD_SECONDS = 60.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Plan:
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    hold: threading.Event | None = None
    location: str | None = None
    #: statuses for one event (by its id), in turn, before the path's own answers apply
    by_event: dict[str, list[int]] = field(default_factory=dict)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        #: (path, event id) of every request as it arrives, before any hold or delay
        self.arrivals: list[tuple[str, str]] = []
        self.plans: dict[str, Plan] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlsplit(self.path).path
                plan = receiver.plans.get(path, Plan())
                with receiver.changed:
                    receiver.arrivals.append((path, self.headers.get("Booksync-Event-Id", "")))
                    receiver.changed.notify_all()
                if plan.hold is not None:
                    plan.hold.wait(MAX_HOLD_SECONDS)
                if plan.delay:
                    time.sleep(plan.delay)
                with receiver.changed:
                    planned = plan.by_event.get(self.headers.get("Booksync-Event-Id", ""))
                    if planned:
                        status = planned.pop(0)
                    else:
                        status = plan.answers.pop(0) if plan.answers else 200
                    receiver.requests.append(Received(path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                      time.time(), status))
                    receiver.changed.notify_all()
                try:
                    self.send_response(status)
                    if plan.location:
                        self.send_header("Location", plan.location)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    def route(self, answers: Sequence[int] = (), *, delay: float = 0.0, hold: threading.Event | None = None,
              location: str | None = None) -> str:
        """A fresh URL on this receiver answering ``answers`` in turn, then 200."""
        path = f"/hooks/{uuid.uuid4().hex}"
        self.plans[path] = Plan(list(answers), delay, hold, location)
        return self.base_url + path

    def answer_event(self, url: str, event_id: object, statuses: Sequence[int]) -> None:
        """Answer the deliveries of this one event with ``statuses`` in turn (then as the path does)."""
        self.plans[urlsplit(url).path].by_event[str(event_id)] = list(statuses)

    def received(self, url: str) -> list[Received]:
        path = urlsplit(url).path
        with self.changed:
            return [request for request in self.requests if request.path == path]

    def wait_arrived(self, url: str, count: int, timeout: float = 30.0) -> list[str]:
        """The event ids of the first ``count`` requests to arrive at ``url`` (answered or not)."""
        path = urlsplit(url).path
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [event_id for arrived_at, event_id in self.arrivals if arrived_at == path]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"waited {timeout:.0f}s for {count} requests to arrive at {url}; got {len(found)}")
                self.changed.wait(left)

    def wait_for(self, url: str, count: int, timeout: float = 30.0) -> list[Received]:
        """The first ``count`` requests to ``url``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [request for request in self.requests if request.path == urlsplit(url).path]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"waited {timeout:.0f}s for {count} requests to {url}; got {len(found)}")
                self.changed.wait(left)

    def close(self) -> None:
        for plan in self.plans.values():
            if plan.hold is not None:
                plan.hold.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()
