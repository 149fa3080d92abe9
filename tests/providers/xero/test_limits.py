"""Several processes on one Xero tenant keep to its limits through the shared limiter; a 429 is honoured.

The local Xero counts every call it accepts (its ``/_sandbox/stats``: 429s sent by reason, the most calls
seen in flight and in any sliding minute): that is the oracle. Its limits run ten times faster than
Xero's (60 calls per 6 s, 5 in flight), and so do the limiter's windows.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandboxes.xero.sandbox import SandboxInfo, start_sandbox, stop_sandbox
from tests.conftest_xero import SOURCE_URL, XeroRaw, XeroTenant, xero_app
from tests.support.services import require_redis

pytestmark = pytest.mark.slow

SCALE = 10.0
PROCESSES = 3
SECONDS = 9.0


@pytest.fixture(scope="module")
def limited_xero(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxInfo, XeroRaw]]:
    directory: Path = tmp_path_factory.mktemp("xero-limited")
    info = start_sandbox(directory, tenants=0, time_scale=SCALE)
    raw = XeroRaw(info)
    try:
        yield info, raw
    finally:
        raw.close()
        stop_sandbox(directory)


def _hammer(info: SandboxInfo, tenant: XeroTenant, redis_url: str, until: float, results: Any) -> None:
    """One worker process: calls as fast as the shared limiter lets it until ``until``."""
    os.environ["BOOKSYNC_RATE_LIMIT_URL"] = redis_url
    os.environ["BOOKSYNC_RATE_LIMIT_MAX_WAIT_SECONDS"] = "30"
    from config.settings import reset_settings_cache

    reset_settings_cache()
    from config.secrets import Credentials
    from providers.errors import RetryableError
    from providers.oauth import LocalCredentialStore
    from providers.ratelimit import rate_limiter
    from providers.xero.adapter import XeroProvider
    from providers.xero.limits import XERO_LIMITS

    limiter = rate_limiter(replace(XERO_LIMITS, time_scale=SCALE))
    credentials = Credentials(tenant.credentials)
    calls = refused = 0
    with XeroProvider(tenant.settings, credentials, credential_store=LocalCredentialStore(credentials),
                      rate_limiter=limiter, app=xero_app(info), api_url=info.api_url, source_url=SOURCE_URL) as provider:
        while time.monotonic() < until:
            try:
                provider.check()
                calls += 1
            except RetryableError:
                refused += 1
    results.put((calls, refused))


def test_several_processes_on_one_tenant_never_pass_its_limits(limited_xero: tuple[SandboxInfo, XeroRaw]) -> None:
    info, raw = limited_xero
    tenant = raw.new_tenant("Busy Books", seed=False)
    redis_url = require_redis()  # a new tenant: its counters start empty
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    until = time.monotonic() + SECONDS
    workers = [context.Process(target=_hammer, args=(info, tenant, redis_url, until, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=SECONDS + 60) for _ in workers]
    for worker in workers:
        worker.join(30)
    stats = raw.stats()
    calls = sum(made for made, _ in outcomes)
    assert calls >= 60, f"the processes made only {calls} calls"  # they used the budget, they did not idle
    assert stats["rate_limited"] == {}, f"the local Xero refused calls: {stats['rate_limited']}"
    assert stats["max_in_flight"][tenant.tenant_id] <= 5
    assert stats["peak_per_minute_window"][tenant.tenant_id] <= 60
    assert stats["calls_per_tenant"][tenant.tenant_id] >= calls


def test_a_429_is_honoured_with_its_retry_after(limited_xero: tuple[SandboxInfo, XeroRaw]) -> None:
    from providers.errors import RetryableError
    from providers.oauth import LocalCredentialStore
    from providers.ratelimit import rate_limiter
    from providers.xero.adapter import XeroProvider
    from providers.xero.limits import XERO_LIMITS

    info, raw = limited_xero
    tenant = raw.new_tenant("Told To Wait", seed=False)
    limiter = rate_limiter(replace(XERO_LIMITS, time_scale=SCALE))
    credentials = tenant.credentials
    raw.fault(kind="rate_limit_storm", count=1, problem="minute", retry_after=2)
    with XeroProvider(tenant.settings, credentials, credential_store=LocalCredentialStore(credentials),
                      rate_limiter=limiter, app=xero_app(info), api_url=info.api_url, source_url=SOURCE_URL) as provider:
        told = time.monotonic()
        with pytest.raises(RetryableError) as caught:
            provider.check()
        assert caught.value.retry_after == 2
        provider.check()  # waits out the Retry-After (under the limiter's longest wait), then goes
        waited = time.monotonic() - told
    budget = limiter.budget(f"xero:{tenant.tenant_id}")
    assert waited >= 1.5, f"the next call went {waited:.2f}s after a 429 that said wait 2s"
    assert budget["minute_remaining"] is not None and budget["day_remaining"] is not None
