"""Operations endpoints, outside the authenticated API: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` says the process answers (a liveness probe: restart me if not). ``/readyz`` says the
database (at the schema this code expects) and the broker are reachable (a readiness probe: send me
traffic or not); it never restarts anything, so a database outage does not turn into a restart
storm. They are left out of the OpenAPI document: they are for probes and scrapers, not clients.

``/readyz`` answers within ``READY_TIMEOUT_SECONDS`` whatever the database does: the checks run in
threads, and one that has not answered by then counts as down (a partitioned database can hold a
check for as long as its TCP timeouts allow; the next probe reuses that check rather than piling up
another behind it).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from config.logging import redact_text

router = APIRouter(tags=["operations"], include_in_schema=False)

CHECK_TIMEOUT_SECONDS = 3.0
READY_TIMEOUT_SECONDS = 1.0
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
_running: dict[str, Future[str | None]] = {}
_running_lock = threading.Lock()


def _bounded(name: str, check: Callable[[], str | None]) -> Future[str | None]:
    with _running_lock:
        future = _running.get(name)
        if future is None or future.done():
            future = _running[name] = _checks.submit(check)
    return future


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def expected_revision() -> str | None:
    from models.migrate import head

    return head()


def check_database() -> str | None:
    """None when the database answers and has the schema this code expects, else why not."""
    from alembic.runtime.migration import MigrationContext

    from models.db import get_engine

    try:
        with get_engine().connect() as connection:
            found = MigrationContext.configure(connection).get_current_revision()
    except Exception as exc:  # noqa: BLE001
        return _reason(exc)
    expected = expected_revision()
    if found != expected:
        return f"schema at revision {found or 'none'}, this version needs {expected} (run: booksync db upgrade)"
    return None


def check_broker() -> str | None:
    """None when a broker connection can be made, else why not."""
    from kombu import Connection

    from config import get_settings
    from worker.config import celery_config

    settings = get_settings()
    try:
        options = celery_config(settings)["broker_transport_options"]
        with Connection(settings.resolved_broker_url, transport_options=options,
                        connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2,
                                         timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001
        return _reason(exc)
    return None


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database and the broker are reachable",
    responses={503: {"description": "Something the API needs is down; the body names it."}},
)
def readyz() -> JSONResponse:
    futures = {"database": _bounded("database", check_database), "broker": _bounded("broker", check_broker)}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    checks: dict[str, str | None] = {}
    for name, future in futures.items():
        try:
            checks[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            checks[name] = f"no answer within {READY_TIMEOUT_SECONDS:g}s"
    down = {name: reason for name, reason in checks.items() if reason is not None}
    body: dict[str, Any] = {
        "status": "ok" if not down else "unavailable",
        "checks": {name: "ok" if reason is None else f"down: {reason}" for name, reason in checks.items()},
    }
    if down:
        body["error"] = {"message": "; ".join(f"{name} is down ({reason})" for name, reason in down.items())}
    return JSONResponse(body, status_code=200 if not down else 503)


@functools.cache
def registry() -> CollectorRegistry:
    from worker.metrics import api_registry

    return api_registry()


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(registry()), headers={"Content-Type": content_type})
