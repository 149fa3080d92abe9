"""Saturation: many tenants' bills pushed by real Celery workers into the local Xero and QuickBooks at their limits.

    python -m bench.saturation_bench [--platform xero|quickbooks|both] [--tenants N] [--per-tenant N]
                                     [--workers N] [--time-scale X] [--quick]

For each provider: a scratch PostgreSQL database, a redis-server of the run's own (broker and the shared
rate limiter's counters; ``BOOKSYNC_BENCH_SATURATION_REDIS_URL`` names another), the local Xero (or
QuickBooks) with its limits time-scaled, one organization per tenant with its bills and a connection made
from the sandbox's real OAuth consent (as ``tests.faults.conftest.seed_cloud_bills``), and ``--workers``
Celery worker processes (workers of two pool processes each). One ``tasks.sync_connection`` per tenant is
sent; the real sync pulls, pushes in the provider's batches through booksync's limiter, stops at the rate
limit and reschedules itself, until every bill's synced record is ``done`` (checked: the figure "bills
done"). The figures come from the sandbox's own record of the calls it accepted:

- share of the allowed call rate used: each tenant's calls counted against the binding limit (Xero: every
  call, 60 a minute; QuickBooks: batch calls, 40 a minute per realm and app) in consecutive windows from
  its first call; every window but its last (partial) one is busy; used / allowed over the busy windows.
  The most booksync allows itself is 59 of 60 for Xero (it keeps what 0.25 s of transit comes to in hand)
  and 40 per 61 s for QuickBooks, 98.3% and 98.4%; over a few windows QuickBooks reads 100%, as its
  bursts drift a second a window against the sandbox's;
- calls over the limit: the sandbox's 429s plus windows that held more than allowed (target 0); the
  note gives the sliding-window peak and the most calls in flight;
- bills per call, against a full batch (Xero 50, QuickBooks 30): every call counts (pulls, the vendor);
- fairness: Jain's index of the tenants' throughput (bills over the span from their first to their last
  call), with the spread of their finishing times in the note.

Sizes. The issue's 20 tenants x 2,000 bills through 4 processes at 60 calls per 6 s cannot measure a
share: 2,000 bills are 40 Xero calls, fewer than one window's 60, so no tenant ever reaches its limit;
and 20 tenants at 10 calls a second each would ask 200 calls a second of 2 shared cores, where a call
costs the worker, the sandbox and PostgreSQL about 0.1-0.15 s of CPU together (the machine does about
8 calls a second with the other benchmarks and tests running: 8 tenants at x2 reached 62%, CPU-bound).
So a tenant gets enough bills for about 2.5 windows, and the tenants' combined allowed rate stays near 6
calls a second: the full run is 6 tenants through 4 processes at the real limits (time scale 1; Xero 6,000
bills each, about 140 calls; QuickBooks 3,000 each, 100 batch calls), about 3.5 minutes per provider; more
tenants than processes, so syncs that stop at the limit must hand their process to others. The share
depends on the machine's load: a sync continuing after the limit starts late when its worker's
processes are all busy (Celery holds a countdown task in the worker that took it); with the fault tests
running beside it the full Xero run measured 92.1%, alone 98.3%.

``--quick`` is 3 tenants through 2 processes with 20 s windows (Xero x3 with 3,000 bills; QuickBooks x61/20 with 1,500),
80-100 s for both. QuickBooks' scale is 61/k because booksync's windows are whole seconds: at x2 its
61 s window becomes 31 s against the sandbox's 30 (96.8% at most), at x10 7 s against 6 (85.7%).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.report import Figure, emit
from bench.support import scratch_database

#: A Redis to use instead of a redis-server of the run's own (the broker and the limiter's counters).
REDIS_URL = os.environ.get("BOOKSYNC_BENCH_SATURATION_REDIS_URL")
BENCHMARK = "saturation"
PROCESSES_PER_WORKER = 2


@dataclass(frozen=True)
class Plan:
    platform: str  #: "xero" or "quickbooks"
    tenants: int
    per_tenant: int
    workers: int
    time_scale: float


@dataclass
class Tenant:
    tenant_id: str  #: Xero's tenant id or QuickBooks' realm id
    connection_id: uuid.UUID


@dataclass
class Outcome:
    plan: Plan
    elapsed: float  #: first sync sent to the last bill done
    calls: dict[str, list[float]]  #: per tenant, the sandbox's accepted calls (seconds since the first)
    limited: dict[str, list[float]]  #: per tenant, the calls counted against the binding limit
    window: float  #: the binding limit's window, in seconds, as the sandbox keeps it
    allowed: int  #: calls the binding limit allows in one window
    throttled: int  #: 429s the sandbox answered
    peak: int  #: the most calls the sandbox saw in any sliding window of one tenant
    pushed: int  #: bills pushed
    done: int
    errors: int
    extra: dict[str, Any] = field(default_factory=dict)


# -- the organizations and their connections ---------------------------------------------------------------


def seed_tenant(platform: str, books_id: str, settings: dict[str, Any], credentials: dict[str, Any],
                bills: int) -> uuid.UUID:
    """An organization with ``bills`` approved bills for one vendor, connected as the OAuth callback connects
    one (``tests.faults.conftest.seed_cloud_bills``, with the rows added in one flush)."""
    from models import AccountingConnection, ConnectionStatus, Counterpart, Organization, Payable, PayableLineItem
    from models.db import get_sessionmaker

    now = datetime.now(UTC)
    prefix = f"S{uuid.uuid4().hex[:6]}-"
    with get_sessionmaker()() as session:
        org = Organization(name=f"Saturation {prefix}")
        session.add(org)
        session.flush()
        vendor = Counterpart(organization_id=org.id, name=f"Saturation Vendor {prefix}", is_vendor=True,
                             is_customer=False)
        session.add(vendor)
        session.flush()
        unit, tax = 10_000, 2_000
        session.add_all(Payable(
            organization_id=org.id, counterpart_id=vendor.id, document_number=f"{prefix}{index:05d}", currency="USD",
            subtotal=unit, tax_amount=unit * tax // 10_000, total_amount=unit + unit * tax // 10_000,
            status="waiting_to_be_paid", issue_date=date.today(), due_date=date.today() + timedelta(days=30),
            eligible_at=now,
            lines=[PayableLineItem(description=f"{prefix}{index:05d} services", quantity=Decimal(1), unit_price=unit,
                                   total=unit, tax_rate_value=tax)],
        ) for index in range(bills))
        connection = AccountingConnection(
            organization_id=org.id, platform=platform, status=ConnectionStatus.CONNECTED.value, settings=settings,
            credentials=credentials, books_id=books_id, backfill=True, connected_at=now,
            next_sync_at=now + timedelta(hours=1),
        )
        session.add(connection)
        session.commit()
        return connection.id


def record_counts(connection_ids: list[uuid.UUID]) -> dict[str, int]:
    """Synced bill records of the bench's organizations by status."""
    from sqlalchemy import func, select

    from models import AccountingConnection, AccountingSyncedRecord
    from models.db import get_sessionmaker

    with get_sessionmaker()() as session:
        orgs = select(AccountingConnection.organization_id).where(AccountingConnection.id.in_(connection_ids))
        rows = session.execute(
            select(AccountingSyncedRecord.sync_status, func.count()).where(
                AccountingSyncedRecord.organization_id.in_(orgs), AccountingSyncedRecord.object_type == "bill")
            .group_by(AccountingSyncedRecord.sync_status)).all()
    return {str(status): int(count) for status, count in rows}


# -- the sandboxes -------------------------------------------------------------------------------------------


@contextmanager
def xero(plan: Plan, directory: Path) -> Iterator[tuple[dict[str, str], list[Tenant], Any]]:
    from sandboxes.xero.sandbox import authorize, start_sandbox, stop_sandbox
    from tests.conftest_xero import REDIRECT_URI, xero_app
    from providers.oauth import TokenSet

    info = start_sandbox(directory, tenants=0, time_scale=plan.time_scale)
    try:
        app = xero_app(info)
        tenants = []
        with httpx.Client(base_url=info.url, timeout=60) as client:
            for index in range(plan.tenants):
                tenant_id = client.post("/_sandbox/tenants", json={"name": f"Saturation {index}", "seed": True}) \
                    .raise_for_status().json()["tenant_id"]
                token = TokenSet.from_response(authorize(info, redirect_uri=REDIRECT_URI, scopes=app.scopes,
                                                         tenant_ids=[tenant_id]), app)
                tenants.append(Tenant(tenant_id, seed_tenant(
                    "xero", f"xero:{tenant_id}", {"tenant_id": tenant_id}, token.to_credentials().reveal(),
                    plan.per_tenant)))
        env = {
            "BOOKSYNC_XERO_CLIENT_ID": info.client_id, "BOOKSYNC_XERO_CLIENT_SECRET": info.client_secret,
            "BOOKSYNC_XERO_AUTHORIZE_URL": info.authorize_url, "BOOKSYNC_XERO_TOKEN_URL": info.token_url,
            "BOOKSYNC_XERO_REVOCATION_URL": info.revocation_url, "BOOKSYNC_XERO_CONNECTIONS_URL": info.connections_url,
            "BOOKSYNC_XERO_API_URL": info.api_url,
        }
        yield env, tenants, info
    finally:
        stop_sandbox(directory)


@contextmanager
def quickbooks(plan: Plan, directory: Path) -> Iterator[tuple[dict[str, str], list[Tenant], Any]]:
    from providers.oauth import TokenSet
    from providers.quickbooks import app as qb_app
    from sandboxes.quickbooks.consent import consent, exchange_code
    from sandboxes.quickbooks.sandbox import start_sandbox, stop_sandbox
    from tests.conftest_quickbooks import REDIRECT_URI, quickbooks_app

    info = start_sandbox(directory, companies=0, time_scale=plan.time_scale, validation="fast", timeout=60)
    try:
        app = quickbooks_app(info)
        tenants = []
        with httpx.Client(base_url=info.url, timeout=60) as client:
            for index in range(plan.tenants):
                created = client.post("/_sandbox/companies", json={
                    "name": f"Saturation {index}", "country": "GB", "currency": "USD", "seed": True})
                created.raise_for_status()
                realm_id = created.json()["realm_id"]
                code = consent(info, realm_id, redirect_uri=REDIRECT_URI)
                token = qb_app.with_expiries(TokenSet.from_response(
                    exchange_code(info, code["code"], redirect_uri=REDIRECT_URI), app))
                tenants.append(Tenant(realm_id, seed_tenant(
                    "quickbooks_online", f"quickbooks:{realm_id}", {"realm_id": realm_id},
                    token.to_credentials().reveal(), plan.per_tenant)))
        env = {
            "BOOKSYNC_QUICKBOOKS_CLIENT_ID": info.client_id, "BOOKSYNC_QUICKBOOKS_CLIENT_SECRET": info.client_secret,
            "BOOKSYNC_QUICKBOOKS_AUTHORIZE_URL": info.authorization_endpoint,
            "BOOKSYNC_QUICKBOOKS_TOKEN_URL": info.token_endpoint,
            "BOOKSYNC_QUICKBOOKS_REVOCATION_URL": info.revocation_endpoint,
            "BOOKSYNC_QUICKBOOKS_API_URL": info.api_base_url, "BOOKSYNC_QUICKBOOKS_SANDBOX_API_URL": info.api_base_url,
        }
        yield env, tenants, info
    finally:
        stop_sandbox(directory)


def xero_calls(info: Any) -> tuple[dict[str, list[float]], Counter[str], dict[str, Any]]:
    calls: dict[str, list[float]] = defaultdict(list)
    kinds: Counter[str] = Counter()
    for call in httpx.get(f"{info.url}/_sandbox/calls", timeout=60).json()["calls"]:
        calls[call["tenant_id"]].append(float(call["at"]))
        kinds[f"{call['method']} {call['path']}"] += 1
    return calls, kinds, info.stats()


def quickbooks_calls(info: Any) -> tuple[dict[str, list[float]], dict[str, list[float]], Counter[str], dict[str, Any]]:
    calls: dict[str, list[float]] = defaultdict(list)
    batches: dict[str, list[float]] = defaultdict(list)
    kinds: Counter[str] = Counter()
    for call in httpx.get(f"{info.url}/_sandbox/calls", timeout=60).json()["calls"]:
        calls[call["realm_id"]].append(float(call["t"]))
        kinds[f"{call['method']} {call['path'].split('/')[-1]}"] += 1
        if call["path"].rstrip("/").endswith("/batch"):
            batches[call["realm_id"]].append(float(call["t"]))
    return calls, batches, kinds, httpx.get(f"{info.url}/_sandbox/stats", timeout=60).json()


# -- one run -------------------------------------------------------------------------------------------------


def run(plan: Plan, log_dir: Path, log_level: str) -> Outcome:
    from tests.support.faults import redis_server
    from tests.support.processes import celery_worker_args, running, wait_for

    sandbox = xero if plan.platform == "xero" else quickbooks
    with scratch_database(f"saturation_{plan.platform}") as database_url, ExitStack() as stack:
        if REDIS_URL:
            broker = REDIS_URL
        else:
            (log_dir / f"redis-{plan.platform}").mkdir()
            broker = stack.enter_context(redis_server(log_dir / f"redis-{plan.platform}")).url
        began = time.perf_counter()
        env, tenants, info = stack.enter_context(sandbox(plan, log_dir / plan.platform))
        print(f"  {plan.platform}: {plan.tenants} tenants with {plan.per_tenant} bills each ready in "
              f"{time.perf_counter() - began:.0f} s", flush=True)
        env = {**env, "BOOKSYNC_DATABASE_URL": database_url, "BOOKSYNC_BROKER_URL": broker,
               "BOOKSYNC_HOME": os.environ["BOOKSYNC_HOME"], "BOOKSYNC_RATE_LIMIT_TIME_SCALE": repr(plan.time_scale),
               "BOOKSYNC_LOG_LEVEL": log_level, "BOOKSYNC_SCHEDULE_INTERVAL_SECONDS": "3600"}
        logs = []
        # Celery workers of (at most) two pool processes each: several workers share the limiter as
        # several hosts would, and a sync rescheduled at the rate limit runs on whichever process is free.
        sizes = [PROCESSES_PER_WORKER] * (plan.workers // PROCESSES_PER_WORKER) + (
            [plan.workers % PROCESSES_PER_WORKER] if plan.workers % PROCESSES_PER_WORKER else [])
        for index, size in enumerate(sizes):
            log = log_dir / f"{plan.platform}-worker-{index}.log"
            process = stack.enter_context(running(celery_worker_args(
                concurrency=size, hostname=f"saturation-{plan.platform}-{index}-{uuid.uuid4().hex[:4]}@%h"), env, log))
            logs.append((log, process))
        from celery import Celery

        client = Celery(broker=broker)

        def ready() -> bool:
            for log, process in logs:
                assert process.poll() is None, log.read_text()[-3000:]
            return len(client.control.ping(timeout=0.5)) >= len(sizes)

        wait_for(ready, timeout=90, interval=0.5, what=f"{len(sizes)} workers")
        ids = [tenant.connection_id for tenant in tenants]
        total = plan.tenants * plan.per_tenant
        began = time.perf_counter()
        for tenant in tenants:
            client.send_task("tasks.sync_connection", args=[str(tenant.connection_id), "manual"], queue="booksync")
        counts = wait_for(lambda: (c := record_counts(ids)) and c.get("done", 0) + c.get("error", 0) >= total and c,
                          timeout=bound(plan), interval=0.5, what=f"all {total} bills pushed")
        elapsed = time.perf_counter() - began
        client.close()
        if plan.platform == "xero":
            calls, kinds, stats = xero_calls(info)
            window = float(stats["limits"]["minute_seconds"])
            allowed = int(stats["limits"]["per_minute"])
            throttled = sum(int(v) for v in stats["rate_limited"].values())
            limited = calls
            peak = max(stats["peak_per_minute_window"].values(), default=0)
            extra = {"max_in_flight": max(stats["max_in_flight"].values(), default=0),
                     "limit_in_flight": stats["limits"]["concurrent"]}
        else:
            calls, limited, kinds, stats = quickbooks_calls(info)
            window = float(stats["limits"]["window_seconds"])
            allowed = int(stats["limits"]["batch_per_minute_per_app"])
            throttled = int(stats["throttled_total"])
            peak = max(stats["peak_batch_in_window"].values(), default=0)
            extra = {"max_in_flight": max(stats["max_in_flight"].values(), default=0),
                     "limit_in_flight": stats["limits"]["in_flight"],
                     "peak_calls": max(stats["peak_in_window"].values(), default=0),
                     "limit_calls": stats["limits"]["per_minute"]}
        extra["kinds"] = kinds
        by_id = {tenant.tenant_id: tenant for tenant in tenants}
        calls = {key: sorted(times) for key, times in calls.items() if key in by_id}
        limited = {key: sorted(times) for key, times in limited.items() if key in by_id}
        return Outcome(plan, elapsed, calls, limited, window, allowed, throttled, peak, total,
                       counts.get("done", 0), counts.get("error", 0), extra)


def bound(plan: Plan) -> float:
    """How long the pushes may take: six times what the binding limit alone needs, and five minutes more."""
    batch, allowed = (50, 60) if plan.platform == "xero" else (30, 40)
    windows = (plan.per_tenant / batch + 10) / allowed * -(-plan.tenants // plan.workers)
    return 300 + 6 * windows * 60 / plan.time_scale


# -- the figures ---------------------------------------------------------------------------------------------


def share_used(limited: dict[str, list[float]], window: float, allowed: int) -> tuple[float, int, int]:
    """The binding limit's windows as the sandbox counted them: consecutive windows of ``window`` seconds from
    each tenant's first counted call to its last; every window but the last (partial) one is busy. Returns
    (calls in busy windows / calls they allow, busy windows, windows holding more than allowed)."""
    used = busy = over = 0
    for times in limited.values():
        if not times:
            continue
        first = times[0]
        windows = int((times[-1] - first) // window)  # full windows before the one the last call is in
        counts = [0] * (windows + 1)
        for at in times:
            counts[min(windows, int((at - first) // window))] += 1
        over += sum(1 for count in counts if count > allowed)
        used += sum(counts[:windows])
        busy += windows
    return (used / (busy * allowed) if busy else 0.0), busy, over


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values)) if values and any(values) else 0.0


def figures(outcome: Outcome) -> list[Figure]:
    plan = outcome.plan
    name = "Xero" if plan.platform == "xero" else "QuickBooks"
    binding = ("calls per tenant" if plan.platform == "xero" else "batch calls per realm")
    share, busy, over = share_used(outcome.limited, outcome.window, outcome.allowed)
    calls = sum(len(times) for times in outcome.calls.values())
    batch = 50 if plan.platform == "xero" else 30
    # a tenant's throughput: its bills over the span from its first call to its last
    rates = [plan.per_tenant / max(times[-1] - times[0], 1e-3) for times in outcome.calls.values() if times]
    ends = [times[-1] for times in outcome.calls.values() if times]
    start = min((times[0] for times in outcome.calls.values() if times), default=0.0)
    spread = (max(ends) - min(ends)) if ends else 0.0
    size = f"{plan.tenants} tenants x {plan.per_tenant} bills, {plan.workers} workers, time scale {plan.time_scale:g}"
    return [
        Figure(BENCHMARK, f"{name}: share of the allowed call rate used", share * outcome.allowed, f"{binding}/window",
               baseline=float(outcome.allowed), baseline_name=f"allowed ({outcome.allowed} per {outcome.window:g} s)",
               target=">= 95%", target_value=0.95,
               note=f"{size}; {busy} busy windows; {outcome.elapsed:.0f} s"),
        Figure(BENCHMARK, f"{name}: calls over the limit", float(outcome.throttled + over), "429s + windows over",
               better="lower", target="0", target_value=0, target_on="value",
               note=f"{outcome.throttled} 429s; {over} windows over; peak {outcome.peak} in a sliding window "
                    f"(limit {outcome.allowed}); {outcome.extra['max_in_flight']} in flight at most "
                    f"(limit {outcome.extra['limit_in_flight']})"),
        Figure(BENCHMARK, f"{name}: bills per call", outcome.pushed / calls if calls else 0.0, "bills/call",
               baseline=float(batch), baseline_name=f"a full batch ({batch})",
               note=f"{calls} calls for {outcome.pushed} bills (pulls and the vendor included)" + (
                   "" if plan.platform == "xero" else
                   f"; {outcome.pushed / max(1, sum(len(t) for t in outcome.limited.values())):.1f} per batch call")),
        Figure(BENCHMARK, f"{name}: fairness across tenants (Jain)", jain(rates), "index", baseline=1.0,
               baseline_name="equal throughput", target=">= 0.9", target_value=0.9,
               note=f"per-tenant bills/s min {min(rates, default=0):.1f} max {max(rates, default=0):.1f}; "
                    f"finish spread {spread:.0f} s of {max(ends, default=start) - start:.0f} s"),
        Figure(BENCHMARK, f"{name}: bills done in synced records", float(outcome.done), "bills",
               baseline=float(outcome.pushed), baseline_name="bills sent", target="all", target_value=1.0,
               note=f"{outcome.errors} error"),
    ]


def summary(outcome: Outcome) -> None:
    plan = outcome.plan
    share, busy, over = share_used(outcome.limited, outcome.window, outcome.allowed)
    calls = sum(len(times) for times in outcome.calls.values())
    print(f"  {plan.platform}: {outcome.pushed} bills for {plan.tenants} tenants through {plan.workers} workers in "
          f"{outcome.elapsed:.1f} s ({outcome.pushed / outcome.elapsed:.0f} bills/s, {calls} calls); "
          f"binding limit {outcome.allowed} per {outcome.window:g} s used {share:.1%} over {busy} busy windows; "
          f"{outcome.throttled} 429s, {over} windows over, sliding peak {outcome.peak}; "
          f"{outcome.done} done, {outcome.errors} error", flush=True)
    print("    calls: " + ", ".join(f"{kind} {count}" for kind, count in outcome.extra["kinds"].most_common()), flush=True)
    start = min((times[0] for times in outcome.limited.values() if times), default=0.0)
    for tenant, times in outcome.limited.items():
        windows = Counter(int((at - times[0]) // outcome.window) for at in times)
        print(f"    {tenant[:8]}: from {times[0] - start:.0f} s to {times[-1] - start:.0f} s, per window "
              f"{[windows[k] for k in range(max(windows) + 1)]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.saturation_bench",
        description="Measures how much of the local Xero's and QuickBooks' (time-scaled) rate limits booksync's "
                    "real workers use when many tenants push at once: share of the allowed call rate used "
                    "(target >= 95%), calls over the limit (target 0), bills per call, fairness across tenants, "
                    "and that every bill ends done.")
    parser.add_argument("--platform", choices=("xero", "quickbooks", "both"), default="both")
    parser.add_argument("--tenants", type=int, help="tenants (Xero) or companies (QuickBooks)")
    parser.add_argument("--per-tenant", type=int, help="bills per tenant")
    parser.add_argument("--workers", type=int, help="Celery worker processes")
    parser.add_argument("--time-scale", type=float, help="divides every window of the limits (sandbox and booksync)")
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute for both)")
    parser.add_argument("--log-level", default="WARNING", help="the workers' BOOKSYNC_LOG_LEVEL")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, the sandboxes' state)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the workers and sandboxes on the way out
    platforms = ("xero", "quickbooks") if args.platform == "both" else (args.platform,)
    home = Path(tempfile.mkdtemp(prefix="saturation-bench-"))
    os.environ["BOOKSYNC_HOME"] = str(home / "home")
    os.environ.setdefault("BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES", "loopback")
    print(f"saturation: logs in {home} (removed at the end unless --keep or the run fails)", flush=True)
    for platform in platforms:
        defaults = (QUICK if args.quick else FULL)[platform]
        plan = Plan(platform, args.tenants or defaults.tenants, args.per_tenant or defaults.per_tenant,
                    args.workers or defaults.workers, args.time_scale or defaults.time_scale)
        outcome = run(plan, home, args.log_level)
        summary(outcome)
        emit(*figures(outcome))
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return 0


#: booksync counts QuickBooks' 61 s windows in whole seconds; 61/20 makes the scaled one exactly 20 s.
QUICKBOOKS_QUICK_SCALE = 61 / 20
FULL = {"xero": Plan("xero", 6, 6000, 4, 1.0), "quickbooks": Plan("quickbooks", 6, 3000, 4, 1.0)}
QUICK = {"xero": Plan("xero", 3, 3000, 2, 3.0), "quickbooks": Plan("quickbooks", 3, 1500, 2, QUICKBOOKS_QUICK_SCALE)}


if __name__ == "__main__":
    sys.exit(main())
