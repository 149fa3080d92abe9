"""The shared rate limiter, on both stores (Redis, and the embedded default's SQLite file), with real
processes hammering one key, a worker killed while holding a slot, and a real server answering 429.

Windows are scaled down (a few calls per second or two) so each test takes seconds; every bound is
asserted with slack for a busy two-core machine.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from providers.errors import RetryableError
from providers.http import RATE_LIMIT_KEY, HttpSettings, build_client, call_deadline
from providers.quickbooks.limits import QUICKBOOKS, QUICKBOOKS_BATCH
from providers.xero.limits import XERO_LIMITS as XERO
from providers.ratelimit import (
    LimitPolicy,
    RateLimited,
    SharedRateLimiter,
    Window,
    combined,
    rate_limiter,
)
from providers.ratelimit_stores import LimiterStore, RedisStore, SQLiteStore, open_store
from tests.providers.http_server import misbehaving_server
from tests.support.env import booksync_env

SPAWN = multiprocessing.get_context("spawn")
#: Time between the store counting a call and the worker stamping it, on a busy machine at worst.
STAMP_LAG = 0.2


@pytest.fixture(scope="module", params=["redis", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return f"sqlite:///{tmp_path_factory.mktemp('ratelimit') / 'ratelimits.sqlite3'}"


@pytest.fixture(scope="module")
def store(store_url: str) -> LimiterStore:
    return open_store(store_url)


def policy(**values: Any) -> LimitPolicy:
    """A policy of its own per test, so counters never mix between tests (or test runs)."""
    values.setdefault("per_key", ())
    return LimitPolicy(name=f"test-{uuid.uuid4().hex[:8]}", **values)


def limiter(store: LimiterStore, limits: LimitPolicy, **options: Any) -> SharedRateLimiter:
    return SharedRateLimiter(limits, store, **options)


def take(limited: SharedRateLimiter, key: str = "tenant-1") -> None:
    with limited.slot(key):
        pass


# -- one process ------------------------------------------------------------------------------


def test_calls_within_the_budget_go_at_once(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(5, 10),), concurrency=2))
    started = time.monotonic()
    with capture_logs() as logs:
        for _ in range(5):
            take(limited)
    assert time.monotonic() - started < 1
    assert logs == [], "nothing to say about calls that did not wait"


def test_a_short_wait_is_waited_and_logged(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(2, 1),)), max_wait=5)
    take(limited)
    take(limited)
    started = time.monotonic()
    with capture_logs() as logs:
        take(limited)
    waited = time.monotonic() - started
    assert 0.5 < waited < 3
    (line,) = logs
    assert line["event"] == "provider.rate_limited" and line["outcome"] == "waited"
    assert line["key"] == "tenant-1" and line["reason"] == "window" and 400 < line["waited_ms"] < 3000


def test_a_long_wait_is_refused_at_once_with_when_the_budget_returns(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(2, 10),)), max_wait=1)
    take(limited)
    take(limited)
    started = time.monotonic()
    with capture_logs() as logs, pytest.raises(RateLimited) as caught:
        take(limited)
    assert time.monotonic() - started < 0.5, "refused without sleeping"
    assert isinstance(caught.value, RetryableError)
    assert 8 < caught.value.retry_after <= 10
    assert caught.value.details["reason"] == "window"
    assert logs[0]["outcome"] == "refused" and 8 < logs[0]["retry_after"] <= 10


def test_a_wait_that_would_end_after_the_call_deadline_is_refused_at_once(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(1, 3),)), max_wait=30)
    take(limited)
    started = time.monotonic()
    with call_deadline(1), pytest.raises(RateLimited) as caught:
        take(limited)
    assert time.monotonic() - started < 0.5
    assert 2 < caught.value.retry_after <= 3


def test_every_window_counts(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(3, 1), Window(4, 20))), max_wait=3)
    for _ in range(4):
        take(limited)  # the fourth waits for the 1 s window
    with pytest.raises(RateLimited) as caught:
        take(limited)
    assert 15 < caught.value.retry_after <= 20, "the 20 s window is spent"


def test_app_wide_windows_are_shared_by_every_key(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(10, 10),), app_wide=(Window(3, 10),)), max_wait=0.5)
    take(limited, "tenant-1")
    take(limited, "tenant-2")
    take(limited, "tenant-3")
    with pytest.raises(RateLimited):
        take(limited, "tenant-4")
    other = limiter(store, policy(per_key=(Window(10, 10),), app_wide=(Window(3, 10),)))
    take(other, "tenant-4")  # another policy's app budget is its own


def test_the_concurrency_cap_waits_then_refuses(store: LimiterStore) -> None:
    limited = limiter(store, policy(concurrency=2), max_wait=0.4)
    with limited.slot("tenant-1"), limited.slot("tenant-1"):
        take(limited, "tenant-2")  # caps are per key
        started = time.monotonic()
        with pytest.raises(RateLimited) as caught:
            take(limited, "tenant-1")
        assert 0.3 < time.monotonic() - started < 2
        assert caught.value.details["reason"] == "concurrency" and caught.value.retry_after == 1.0
        assert limited.budget("tenant-1")["in_flight"] == 2
    take(limited, "tenant-1")
    assert limited.budget("tenant-1")["in_flight"] == 0


def test_a_slot_is_freed_when_the_call_fails(store: LimiterStore) -> None:
    limited = limiter(store, policy(concurrency=1), max_wait=0)
    with pytest.raises(ZeroDivisionError), limited.slot("tenant-1"):
        1 / 0  # noqa: B018
    take(limited)


def test_a_429_blocks_the_key_until_retry_after(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(100, 10),)), max_wait=0.5)
    with capture_logs() as logs:
        limited.penalize("tenant-1", 3.0, None)
    assert logs[0]["outcome"] == "penalized" and logs[0]["scope"] == "key" and logs[0]["retry_after"] == 3.0
    with pytest.raises(RateLimited) as caught:
        take(limited, "tenant-1")
    assert 2 < caught.value.retry_after <= 3 and caught.value.details["reason"] == "penalty"
    take(limited, "tenant-2")
    limited.penalize("tenant-1", 1.0, None)
    with pytest.raises(RateLimited) as caught:
        take(limited, "tenant-1")
    assert caught.value.retry_after > 1.5, "a shorter Retry-After never shortens the block"
    assert limited.budget("tenant-1")["blocked_until"]
    patient = limiter(store, limited.policy, max_wait=5)
    started = time.monotonic()
    take(patient, "tenant-1")
    assert 1.5 < time.monotonic() - started < 4.5


def test_a_429_for_an_app_wide_limit_blocks_every_key(store: LimiterStore) -> None:
    limited = limiter(
        store,
        policy(per_key=(Window(100, 10),), problem_header="X-Rate-Limit-Problem",
               app_wide_problems=frozenset({"appminute"})),
        max_wait=0.2,
    )
    limited.penalize("tenant-1", 5.0, "AppMinute")
    with pytest.raises(RateLimited):
        take(limited, "tenant-2")


def test_a_429_without_retry_after_blocks_for_the_policy_default(store: LimiterStore) -> None:
    limited = limiter(store, policy(per_key=(Window(100, 4),)), max_wait=0.2)
    limited.penalize("tenant-1", None, None)
    with pytest.raises(RateLimited) as caught:
        take(limited)
    assert 3 < caught.value.retry_after <= 4, "the shortest window"


def test_the_budget_shows_what_the_provider_reported_and_the_own_counts(store: LimiterStore) -> None:
    limits = policy(
        per_key=(Window(60, 60), Window(5000, 86_400)), concurrency=5,
        reported_headers=(("X-DayLimit-Remaining", "day_remaining"), ("X-MinLimit-Remaining", "minute_remaining")),
    )
    limited = limiter(store, limits)
    assert limited.budget("tenant-1")["as_of"] is None
    take(limited)
    take(limited)
    limited.observe("tenant-1", {"X-DayLimit-Remaining": "4870", "X-MinLimit-Remaining": "12", "Other": "x"})
    limited.observe("tenant-1", {"X-MinLimit-Remaining": "11"})
    budget = limited.budget("tenant-1")
    assert budget["day_remaining"] == 4870 and budget["minute_remaining"] == 11 and budget["as_of"]
    assert budget["in_flight"] == 0 and budget["concurrency"] == 5 and budget["blocked_until"] is None
    assert [(w["calls"], w["remaining"]) for w in budget["windows"]] == [(60, 58), (5000, 4998)]
    assert limited.budget("tenant-2")["windows"][0]["remaining"] == 60


def test_time_scale_shortens_the_windows(store: LimiterStore) -> None:
    limits = policy(per_key=(Window(2, 60),), time_scale=60.0)
    assert limits.seconds(limits.per_key[0]) == 1
    limited = limiter(store, limits, max_wait=0)
    take(limited)
    take(limited)
    with pytest.raises(RateLimited) as caught:
        take(limited)
    assert caught.value.retry_after <= 1, "2 calls a minute, 60 times faster: 2 a second"


def test_combined_limiters_hold_a_slot_of_each(store: LimiterStore) -> None:
    realm = limiter(store, policy(per_key=(Window(3, 10),)), max_wait=0.2)
    batch = limiter(store, policy(per_key=(Window(1, 10),)), max_wait=0.2)
    both = combined(batch, realm)
    with both.slot("realm-1"):
        pass
    with pytest.raises(RateLimited):
        take(batch, "realm-1")
    assert realm.budget("realm-1")["windows"][0]["remaining"] == 2


def test_policies_reject_what_limits_nothing() -> None:
    with pytest.raises(ValueError):
        LimitPolicy(name="nothing", per_key=())
    with pytest.raises(ValueError):
        Window(0, 60)


def test_the_published_policies() -> None:
    assert [(w.calls, w.seconds) for w in XERO.per_key] == [(60, 60), (5000, 86_400)]
    assert XERO.concurrency == 5 and XERO.app_wide == (Window(10_000, 60),)
    # Intuit's minute plus a second for the time between booksync counting a call and Intuit receiving it.
    assert QUICKBOOKS.per_key == (Window(500, 61),) and QUICKBOOKS.concurrency == 10
    assert QUICKBOOKS_BATCH.per_key == (Window(120, 61), Window(40, 61)) and QUICKBOOKS_BATCH.concurrency is None


def test_an_unreachable_store_is_a_retryable_error() -> None:
    limited = SharedRateLimiter(policy(per_key=(Window(1, 1),)), RedisStore("redis://127.0.0.1:9/0"))
    with pytest.raises(RetryableError) as caught:
        take(limited)
    assert "rate-limit store is unavailable" in caught.value.message


# -- the store booksync's settings choose -----------------------------------------------------------


def test_the_store_follows_the_settings(tmp_path: Path, redis_url: str) -> None:
    with booksync_env(home=str(tmp_path)):
        embedded = rate_limiter(XERO)
    assert isinstance(embedded._store, SQLiteStore)  # noqa: SLF001
    assert embedded._store.path == (tmp_path / "ratelimits.sqlite3").resolve()  # noqa: SLF001
    assert embedded.max_wait == 5.0 and embedded.lease_seconds == 150.0
    with booksync_env(home=str(tmp_path), broker_url=redis_url, rate_limit_time_scale="60",
                      rate_limit_max_wait_seconds="2", provider_call_timeout_seconds="10"):
        on_redis = rate_limiter(XERO)
    assert isinstance(on_redis._store, RedisStore)  # noqa: SLF001
    assert on_redis.policy.seconds(on_redis.policy.per_key[0]) == 1
    assert (on_redis.max_wait, on_redis.lease_seconds) == (2.0, 40.0)
    with booksync_env(home=str(tmp_path), broker_url=redis_url, rate_limit_url=f"sqlite:///{tmp_path}/rl.db"):
        assert isinstance(rate_limiter(XERO)._store, SQLiteStore)  # noqa: SLF001


# -- through the HTTP layer, against a real server ----------------------------------------------------


def test_a_429_from_the_provider_holds_back_the_next_calls(store: LimiterStore) -> None:
    limited = limiter(
        store,
        policy(per_key=(Window(100, 10),), problem_header="X-Rate-Limit-Problem",
               app_wide_problems=frozenset({"appminute"}),
               reported_headers=(("X-AppMinLimit-Remaining", "app_minute_remaining"),)),
        max_wait=0.5,
    )
    settings = HttpSettings(call_timeout=10)
    with misbehaving_server() as server, build_client(
        provider="xero", settings=settings, rate_limiter=limited, rate_limit_key="tenant-1"
    ) as client:
        answer = client.get(
            f"{server.url}/status/429?header=Retry-After:3&header=X-Rate-Limit-Problem:appminute"
            "&header=X-AppMinLimit-Remaining:0"
        )
        assert answer.status_code == 429
        with pytest.raises(RateLimited) as caught:
            client.get(f"{server.url}/ok", extensions={RATE_LIMIT_KEY: "tenant-2"})
        assert 2 < caught.value.retry_after <= 3
        assert len(server.requests) == 1, "the refused call never reached the provider"
    assert limited.budget("tenant-1")["app_minute_remaining"] == 0


# -- several processes, one key -------------------------------------------------------------------------


def hammer(url: str, limits: LimitPolicy, key: str, calls: int, hold: float, start: Any, results: Any) -> None:
    """One worker process: ``calls`` calls under ``key``, each holding its slot ``hold`` seconds."""
    limited = SharedRateLimiter(limits, open_store(url), max_wait=15)
    start.wait(30)
    records = []
    for _ in range(calls):
        try:
            with limited.slot(key):
                entered = time.time()
                time.sleep(hold)  # the provider call
                records.append(("ok", entered, time.time()))
        except RateLimited as exc:
            records.append(("refused", exc.retry_after, time.time()))
    results.put((os.getpid(), records))


def hold_a_slot(url: str, limits: LimitPolicy, key: str, lease_seconds: float, holding: Any) -> None:
    limited = SharedRateLimiter(limits, open_store(url), lease_seconds=lease_seconds)
    with limited.slot(key):
        holding.set()
        time.sleep(120)


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(10)


def test_processes_on_one_key_never_exceed_a_window_or_the_cap(store_url: str, processes: list[Any]) -> None:
    workers, calls, cap = 4, 6, 3
    limits = policy(per_key=(Window(10, 2), Window(16, 4)), concurrency=cap)
    start, results = SPAWN.Event(), SPAWN.Queue()
    for _ in range(workers):
        processes.append(SPAWN.Process(target=hammer, args=(store_url, limits, "tenant-1", calls, 0.3, start, results)))
        processes[-1].start()
    # One call a second before the rush: a window that restarts at fixed points (rather than
    # moving) would let the rush have its whole budget twice around the restart.
    with SharedRateLimiter(limits, open_store(store_url)).slot("tenant-1"):
        first = ("ok", time.time(), time.time())
    time.sleep(1.0)
    start.set()
    outcomes = dict(results.get(timeout=60) for _ in range(workers))
    records = [first] + [record for worker in outcomes.values() for record in worker]
    assert all(kind == "ok" for kind, *_ in records), "fair: every process got all its calls within max_wait"
    assert all(len(worker) == calls for worker in outcomes.values())

    entered = sorted(record[1] for record in records)
    for window in limits.per_key:
        # Every window.calls + 1 consecutive calls span more than the window (less the stamping lag).
        spans = [entered[i + window.calls] - entered[i] for i in range(len(entered) - window.calls)]
        assert min(spans) > window.seconds - STAMP_LAG, f"{window} exceeded"
    assert entered[-1] - entered[0] > 4 - STAMP_LAG, "25 calls at 16 per 4 s take more than 4 s"

    events = sorted([(record[1], 1) for record in records] + [(record[2], -1) for record in records])
    in_flight, most = 0, 0
    for _, change in events:
        in_flight += change
        most = max(most, in_flight)
    assert 2 <= most <= cap


def test_a_slot_held_by_a_killed_worker_frees_when_its_lease_expires(store_url: str, processes: list[Any]) -> None:
    limits = policy(concurrency=1)
    holding = SPAWN.Event()
    processes.append(SPAWN.Process(target=hold_a_slot, args=(store_url, limits, "tenant-1", 3.0, holding)))
    processes[0].start()
    assert holding.wait(30), "the worker took its slot"
    os.kill(processes[0].pid, signal.SIGKILL)
    processes[0].join(10)
    killed_at = time.monotonic()
    store = open_store(store_url)
    with pytest.raises(RateLimited):
        take(SharedRateLimiter(limits, store, max_wait=0))
    take(SharedRateLimiter(limits, store, max_wait=10))
    assert time.monotonic() - killed_at < 6, "freed about lease_seconds (3 s) after it was taken"
