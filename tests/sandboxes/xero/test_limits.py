"""Xero's limits on the local Xero: 429s with Xero's headers, the concurrency cap, the time scale, and the
counters a benchmark reads to show that no client went over."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sandboxes.xero.sandbox import SandboxInfo
from tests.sandboxes.xero.conftest import Xero, connect, start_xero
from tests.support.processes import wait_for

SCALE = 30.0  # a minute lasts 2 s


@pytest.fixture(scope="module")
def xero_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    yield from start_xero(tmp_path_factory.mktemp("xero-limits"), time_scale=SCALE,
                          limits={"per_day": 100, "app_per_minute": 90})


def test_every_answer_reports_the_budget_and_the_61st_call_in_a_minute_is_refused(xero_server: SandboxInfo) -> None:
    app = connect(xero_server)
    answers = []
    wait_for(lambda: app.get("/Organisation").headers["X-MinLimit-Remaining"] == "59", timeout=10,
             what="a fresh minute window")
    for _ in range(59):
        answers.append(app.get("/Organisation"))
        if answers[-1].status_code != 200:
            break
    assert [a.status_code for a in answers] == [200] * 59, "a window ended while the test was calling; rerun"
    assert answers[-1].headers["X-MinLimit-Remaining"] == "0"
    assert int(answers[-1].headers["X-DayLimit-Remaining"]) < 100
    assert "X-AppMinLimit-Remaining" in answers[-1].headers
    refused = app.get("/Organisation")
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2  # the scaled minute is 2 s
    back = wait_for(lambda: app.get("/Organisation").status_code == 200, timeout=10, interval=0.2,
                    what="the scaled minute to pass")
    assert back
    stats = app.stats()
    assert stats["rate_limited"]["minute"] >= 1
    assert stats["limits"]["minute_seconds"] == 60 / SCALE
    # enforced in fixed windows (as Xero does), so a sliding window may see up to twice the limit
    assert 60 <= stats["peak_per_minute_window"][app.tenant_id] <= 120


def test_at_most_five_calls_are_in_flight_per_tenant(xero_server: SandboxInfo) -> None:
    app = connect(xero_server, tenant=1)
    app.fault(kind="latency", seconds=1.0, path="/Currencies")
    try:
        with ThreadPoolExecutor(8) as pool, httpx.Client(base_url=xero_server.url, timeout=30) as client:
            answers = list(pool.map(lambda _: client.get("/api.xro/2.0/Currencies", headers=app.headers()), range(8)))
    finally:
        app.clear_faults()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 5 + [429] * 3
    refused = [a for a in answers if a.status_code == 429]
    assert {a.headers["X-Rate-Limit-Problem"] for a in refused} == {"concurrent"}
    assert all("Retry-After" not in a.headers for a in refused)  # Xero gives one for minute and day only
    stats = app.stats()
    assert stats["max_in_flight"][app.tenant_id] == 5 and stats["rate_limited"]["concurrent"] == 3


@pytest.fixture(scope="module")
def app_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """A minute long enough (20 s) for 90 calls on a loaded machine, and a day that never ends the test first."""
    yield from start_xero(tmp_path_factory.mktemp("xero-app-limit"), time_scale=3.0,
                          limits={"per_day": 100_000, "app_per_minute": 90})


def test_the_app_wide_minute_limit_counts_every_tenant(app_limit_server: SandboxInfo) -> None:
    for name in ("App limit A", "App limit B"):
        httpx.post(f"{app_limit_server.url}/_sandbox/tenants", json={"name": name, "seed": False}).raise_for_status()
    tenants = httpx.get(f"{app_limit_server.url}/_sandbox/tenants").json()["tenants"]
    ids = [t["tenant_id"] for t in tenants if t["name"].startswith("App limit")]
    info = SandboxInfo(**{**app_limit_server.to_dict(), "tenant_ids": ids})
    apps = [connect(info, tenant=0), connect(info, tenant=1)]
    calls = iter(range(10_000))

    def alternate() -> bool:  # each tenant stays under its own 60 while the two together reach 90
        answer = apps[next(calls) % 2].get("/Currencies")
        return answer.status_code == 429 and answer.headers["X-Rate-Limit-Problem"] == "appminute"

    assert wait_for(alternate, timeout=60, interval=0, what="the app-wide limit")
    stats = apps[0].stats()
    assert stats["rate_limited"]["appminute"] >= 1 and 90 <= stats["peak_app_minute_window"] <= 180


def test_the_daily_limit(xero_server: SandboxInfo) -> None:
    first, second = connect(xero_server, tenant=0), connect(xero_server, tenant=1)
    seen = set()

    def call(app: Xero) -> httpx.Response:
        answer = app.get("/Organisation")
        if answer.status_code == 429:
            seen.add(answer.headers["X-Rate-Limit-Problem"])
        return answer

    day = wait_for(lambda: call(first).headers.get("X-Rate-Limit-Problem") == "day", timeout=60, interval=0.01,
                   what="the (shortened) day limit")
    assert day
    refused = call(first)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) <= 86400 / SCALE
    assert call(second).headers.get("X-Rate-Limit-Problem") != "day"  # the other tenant has its own day
    stats = first.stats()
    assert stats["calls_per_tenant"][first.tenant_id] == 100
    assert stats["peak_per_day_window"][first.tenant_id] == 100
    assert "day" in seen


def test_a_rate_limit_storm_fault(xero_server: SandboxInfo) -> None:
    app = connect(xero_server, tenant=1)
    app.fault(kind="rate_limit_storm", count=2, problem="appminute", retry_after=3)
    answers = [app.get("/Currencies") for _ in range(2)]
    assert {(a.status_code, a.headers["X-Rate-Limit-Problem"], a.headers["Retry-After"]) for a in answers} == {
        (429, "appminute", "3")}
    assert app.stats()["rate_limited"]["appminute"] >= 2
    assert app.stats()["faults"] == []


def test_calls_are_recorded_with_tenant_and_time(xero_server: SandboxInfo) -> None:
    app = connect(xero_server, tenant=1)
    calls = httpx.get(f"{xero_server.url}/_sandbox/calls", params={"tenant_id": app.tenant_id}).json()["calls"]
    assert calls and {c["tenant_id"] for c in calls} == {app.tenant_id}
    assert all(c["at"] > 1.7e9 and c["path"].startswith("/") for c in calls)
    assert [c["at"] for c in calls] == sorted(c["at"] for c in calls)
