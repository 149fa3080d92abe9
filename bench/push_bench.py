"""Push path: invoices a second that booksync's engine pushes into a real Tryton, against a bare script doing the
same work the fastest way Tryton allows, and the engine's own cost per document as the work grows.

Against Tryton (a sandbox server started as the tests start one, on a copy of the prepared template): N
customer invoices stored as the intake stores them (PostgreSQL, scratch database) are pushed by the engine's
pusher (``tasks.engine.push.Pusher.push_all``: counterparts, then invoices in Tryton's batches of 50, each
created as a draft — the Tryton connection's default — its totals read back and checked, each outcome a synced
record). In the same run a bare JSON-RPC script creates the same invoices for as many new parties — one
``create`` of the parties, one read of their addresses, one ``on_change`` for what an invoice of theirs needs,
then one ``create`` per 50 invoices — and the same script one invoice at a time. The engine pushes twice
(``--rounds``; quick: once), each time a new organization's N invoices, with the bare script before, between
and after: Tryton slows a little as it fills and the machine's load drifts, so the baseline is the mean rate
of those bare runs. With ``--post`` both sides post every invoice too (one ``post`` per
batch). JSON-RPC calls are counted at the provider's instrumented transport (the engine) and at the bare
client, per invoice.

Growth: the engine pushes 1,000, 10,000 and 100,000 invoices (``--quick``: the first two) to an in-memory
provider that answers at once, so the time per document is booksync's own (reads, mapping, records,
commits). The invoices are bulk-loaded and analyzed before each push, and the synced records every 5 s
during it, as autovacuum would.

    python -m bench.push_bench            # 1,000 invoices against Tryton, growth at 1k, 10k and 100k (~3 min)
    python -m bench.push_bench --quick    # 200 invoices against Tryton, growth at 1k and 10k (~40 s)
    python -m bench.push_bench --skip-tryton --growth 1000 10000   # the growth table alone
    python -m bench.push_bench --profile push.prof   # also write a cProfile of the engine's Tryton push
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.report import Figure, emit
from bench.support import scratch_database
from config.secrets import Credentials
from providers.base import AccountingProvider
from providers.types import (
    ConnectionCheck,
    DocumentKind,
    DocumentTotals,
    OutgoingCounterpart,
    OutgoingDocument,
    PushOutcome,
    PushRequest,
    PushResult,
)

BENCHMARK = "push"
PARTIES = 20
UNIT_PRICE = 25_000  # minor units: 250.00
TAX_RATE = 2000  # 20%, as the sandbox's "VAT 20%"
TRYTON_BATCH = 50


# -- the platform's side: invoices as the intake stores them --------------------------------------


def store_invoices(session: Any, count: int, *, parties: int = PARTIES) -> Any:
    """An organization with ``parties`` customers and ``count`` issued invoices of one 20% line each."""
    from sqlalchemy import insert, text

    from models import Counterpart, Organization, Receivable, ReceivableLineItem

    org = Organization(name="Bench Books")
    session.add(org)
    session.flush()
    customers = [uuid.uuid4() for _ in range(parties)]
    session.execute(insert(Counterpart), [
        {"id": cid, "organization_id": org.id, "name": f"Bench Customer {i:03d}", "is_customer": True}
        for i, cid in enumerate(customers)
    ])
    today, now = dt.date.today(), dt.datetime.now(dt.UTC)
    tax = UNIT_PRICE * TAX_RATE // 10_000
    for first in range(0, count, 5_000):
        ids = [uuid.uuid4() for _ in range(first, min(first + 5_000, count))]
        session.execute(insert(Receivable), [
            {"id": rid, "organization_id": org.id, "counterpart_id": customers[(first + i) % parties],
             "document_number": f"BENCH-{first + i:07d}", "currency": "USD", "subtotal": UNIT_PRICE,
             "tax_amount": tax, "total_amount": UNIT_PRICE + tax, "status": "issued", "issue_date": today,
             "due_date": today + dt.timedelta(days=30), "eligible_at": now, "memo": "bench"}
            for i, rid in enumerate(ids)
        ])
        session.execute(insert(ReceivableLineItem), [
            {"receivable_id": rid, "position": 0, "description": f"BENCH-{first + i:07d} consulting",
             "quantity": Decimal(1), "unit_price": UNIT_PRICE, "total": UNIT_PRICE, "tax_rate_value": TAX_RATE}
            for i, rid in enumerate(ids)
        ])
    session.commit()
    # as autovacuum would have by the time a sync runs: a bulk load leaves the planner thinking the
    # tables are empty (and choosing plans that read every row of the organization for each batch)
    session.execute(text("ANALYZE"))
    session.commit()
    return org


def connect(session: Any, org: Any, platform: str, settings: dict[str, Any], credentials: dict[str, Any],
            books_id: str) -> Any:
    from models import AccountingConnection, ConnectionStatus

    now = dt.datetime.now(dt.UTC)
    connection = AccountingConnection(
        organization_id=org.id, platform=platform, status=ConnectionStatus.CONNECTED.value, settings=settings,
        credentials=credentials, backfill=True, books_id=books_id, connected_at=now,
        next_sync_at=now + dt.timedelta(hours=1),
    )
    session.add(connection)
    session.commit()
    return connection


def engine_push(session: Any, connection: Any, provider: AccountingProvider) -> Any:
    """The engine's push of everything due, as a sync runs it after its pull."""
    from tasks.engine.push import Pusher
    from tasks.engine.summary import SyncSummary
    from tasks.engine.sync import utc_now

    summary = SyncSummary(connection_id=str(connection.id), trigger="bench")
    Pusher(session, connection, provider, summary, utc_now).push_all()
    return summary


# -- counting JSON-RPC calls at the provider's instrumented transport ------------------------------


class CallCounter:
    """Counts every request through ``providers.http.InstrumentedTransport`` (the engine's HTTP layer)."""

    def __init__(self) -> None:
        self.calls = 0

    def __enter__(self) -> CallCounter:
        from providers.http import InstrumentedTransport

        self._original = InstrumentedTransport.handle_request
        counter = self

        def handle_request(transport: Any, request: httpx.Request) -> httpx.Response:
            counter.calls += 1
            return counter._original(transport, request)

        InstrumentedTransport.handle_request = handle_request  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from providers.http import InstrumentedTransport

        InstrumentedTransport.handle_request = self._original  # type: ignore[method-assign]


# -- the bare script: the same invoices straight over JSON-RPC ------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(type(value).__name__)


class BareTryton:
    """A minimal JSON-RPC client with no checks, mapping or records: the floor a push is held to."""

    def __init__(self, url: str, database: str, username: str, password: str) -> None:
        self.endpoint = f"{url}/{database}/rpc/"
        self.client = httpx.Client(timeout=120.0)
        self.calls = 0
        user_id, session = self.call("common.db.login", username, {"password": password}, "en")[:2]
        token = base64.b64encode(f"{username}:{user_id}:{session}".encode()).decode()
        self.client.headers["Authorization"] = f"Session {token}"
        self.context = {"company": self.call("model.res.user.get_preferences", True, {})["company"]}

    def call(self, method: str, *params: Any) -> Any:
        self.calls += 1
        body = json.dumps({"id": self.calls, "method": method, "params": list(params)}, default=_encode)
        response = self.client.post(self.endpoint, content=body, headers={"Content-Type": "application/json"})
        response.raise_for_status()
        payload = response.json()
        if payload.get("error"):
            raise RuntimeError(f"{method}: {payload['error'][:2]}")
        return payload["result"]

    def model(self, model: str, method: str, *params: Any) -> Any:
        return self.call(f"model.{model}.{method}", *params, self.context)

    def close(self) -> None:
        self.client.close()


def bare_push(info: Any, count: int, *, batch: int, post: bool, tag: str) -> tuple[float, int]:
    """Create (and post) ``count`` invoices like the engine's, ``batch`` per call; (seconds, calls)."""
    seed = info.seed()
    tax = seed["taxes"]["VAT 20%"]["id"]
    account = seed["accounts"]["revenue"]["id"]
    currency = seed["currencies"]["USD"]["id"]
    company = seed["company"]["id"]
    today = dt.date.today()
    price = Decimal(UNIT_PRICE).scaleb(-2)
    started = time.perf_counter()
    bare = BareTryton(info.url, info.database, info.username, info.password)
    try:
        parties = bare.model("party.party", "create", [
            {"name": f"Bare {tag} Customer {i:03d}", "addresses": [["create", [{}]]],
             "identifiers": [["create", [{"type": None, "code": f"bare:{tag}:{i}"}]]]}
            for i in range(PARTIES)
        ])
        addresses = {a["party"]: a["id"] for a in bare.model(
            "party.address", "search_read", [("party", "in", parties)], 0, None, None, ["party"])}
        # what an invoice of a new party needs besides its address (its receivable account...), as Tryton's
        # client asks for it: the same for every party here, so asked once
        changes = bare.model("account.invoice", "on_change",
                             {"type": "out", "company": company, "party": parties[0]}, ["type", "party"])
        defaults = {k: v for k, v in changes.items() if not k.endswith(".") and k != "invoice_address"}
        for first in range(0, count, batch):
            records = [
                {**defaults, "type": "out", "party": parties[i % PARTIES],
                 "invoice_address": addresses[parties[i % PARTIES]],
                 "company": company, "currency": currency, "invoice_date": today,
                 "reference": f"BARE-{tag}-{i:07d}", "description": "bench",
                 "comment": f"[booksync:bare-{tag}-{i}]",
                 "lines": [["create", [{"type": "line", "account": account, "currency": currency,
                                        "description": f"BARE-{i:07d} consulting", "quantity": 1.0,
                                        "unit_price": price, "taxes": [["add", [tax]]]}]]]}
                for i in range(first, min(first + batch, count))
            ]
            ids = bare.model("account.invoice", "create", records)
            if post:
                bare.model("account.invoice", "post", ids)
        return time.perf_counter() - started, bare.calls
    finally:
        bare.close()


# -- against Tryton ---------------------------------------------------------------------------------


@dataclass
class TrytonFigures:
    invoices: int
    single_invoices: int
    engine_seconds: float
    engine_calls: int
    bare_seconds: float
    bare_calls: int
    single_seconds: float
    single_calls: int
    pushed: int
    errors: int


def measure_tryton(invoices: int, single: int, *, rounds: int, post: bool, profile: str | None) -> TrytonFigures:
    """``rounds`` engine pushes of ``invoices`` each (a new organization each time), with the bare script
    before, between and after them: Tryton slows a little as it fills and the machine's load drifts, so
    the baseline is the mean rate of those bare runs."""
    from models.db import get_sessionmaker
    from sandboxes.tryton.sandbox import cached_template, start_sandbox, stop_sandbox
    from tasks.engine.connections import open_provider
    from tasks.engine.reconnect import check_connection

    os.environ["BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES"] = "loopback"  # the sandbox listens on 127.0.0.1
    template = cached_template()
    bare_runs: list[float] = []
    engine_seconds, engine_calls, pushed, errors = 0.0, 0, 0, 0
    profiler = cProfile.Profile() if profile else None
    with tempfile.TemporaryDirectory(prefix="booksync-push-bench-") as directory, \
            scratch_database("booksync_bench_push"):
        info = start_sandbox(Path(directory), template=template)
        try:
            check = check_connection("tryton", info.settings, info.credentials)
            settings = {**info.settings, **check.pinned_settings, "post_documents": post}
            sessions = get_sessionmaker()
            for round_ in range(rounds):
                seconds, bare_calls = bare_push(info, invoices, batch=TRYTON_BATCH, post=post, tag=f"r{round_}")
                bare_runs.append(seconds)
                with sessions() as session:
                    org = store_invoices(session, invoices)
                    connection = connect(session, org, "tryton", settings, info.credentials, check.books_id or "")
                    with CallCounter() as counter:
                        started = time.perf_counter()
                        with open_provider(connection) as provider:
                            if profiler:
                                profiler.enable()
                            summary = engine_push(session, connection, provider)
                            if profiler:
                                profiler.disable()
                        engine_seconds += time.perf_counter() - started
                    engine_calls += counter.calls
                    pushed += summary.pushed.get("receivable", 0)
                    errors += sum(summary.errors.values())
            seconds, _ = bare_push(info, invoices, batch=TRYTON_BATCH, post=post, tag="last")
            bare_runs.append(seconds)
            single_seconds, single_calls = bare_push(info, single, batch=1, post=post, tag="single")
        finally:
            stop_sandbox(Path(directory))
    if profiler and profile:
        profiler.dump_stats(profile)
    rates = [invoices / seconds for seconds in bare_runs]
    print("bare batched, invoices/s around the engine's pushes: " + ", ".join(f"{rate:.1f}" for rate in rates))
    total = invoices * rounds
    return TrytonFigures(
        total, single, engine_seconds, engine_calls, total / (sum(rates) / len(rates)), bare_calls * rounds,
        single_seconds, single_calls, pushed, errors,
    )


# -- growth: an in-memory provider that answers at once ---------------------------------------------


class InstantProvider(AccountingProvider):
    """Takes every push at once and answers with the platform's own totals: no network, no work. Its batch
    answers come together, as Tryton's do (one commit a batch)."""

    platform = "bench"
    display_name = "the bench books"
    max_batch = TRYTON_BATCH

    def __init__(self) -> None:
        super().__init__({}, Credentials())
        self.ids = 0

    def check(self) -> ConnectionCheck:
        return ConnectionCheck("bench", books_id="bench:push")

    def list_tax_rates(self):  # type: ignore[no-untyped-def]
        return iter(())

    def list_ledger_accounts(self):  # type: ignore[no-untyped-def]
        return iter(())

    def iter_documents(self, kind, cursor, *, lag_seconds=0.0):  # type: ignore[no-untyped-def]
        return iter(())

    def iter_document_ids(self, kind):  # type: ignore[no-untyped-def]
        return iter(())

    def get_document(self, kind, platform_id):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def _next(self) -> str:
        self.ids += 1
        return str(self.ids)

    def push_counterparts(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        for request in requests:
            yield PushOutcome(request.key, result=PushResult(request.platform_id or self._next(), None, True))

    def push_documents(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        for request in requests:
            item = request.item
            totals = DocumentTotals(item.subtotal or 0, item.tax_amount or 0, item.total_amount or 0,
                                    tuple(line.total or 0 for line in item.lines))
            yield PushOutcome(request.key, result=PushResult(request.platform_id or self._next(), None, True, totals))

    def push_counterpart(self, counterpart, key, platform_id, *, may_exist=True) -> PushResult:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def push_document(self, document, key, platform_id, *, may_exist=True) -> PushResult:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        return None


@contextmanager
def analyzing(url: str, every: float = 5.0) -> Iterator[None]:
    """ANALYZE the tables a push grows every few seconds, as autovacuum would: a database where it is off (as
    the shared one this bench was written on) keeps the planner believing the synced records are none, and
    its plans then read every record of the organization for each batch."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    stop = threading.Event()

    def run() -> None:
        with psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                             dbname=parsed.database, autocommit=True) as connection:
            while not stop.wait(every):
                connection.execute("ANALYZE accounting_synced_records")

    thread = threading.Thread(target=run, name="bench-analyze", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def measure_growth(documents: int, *, profile: str | None = None) -> float:
    """Milliseconds per document for the engine's push of ``documents`` invoices to the instant provider."""
    from models.db import get_sessionmaker

    with scratch_database("booksync_bench_push_growth") as url, analyzing(url):
        sessions = get_sessionmaker()
        with sessions() as session:
            org = store_invoices(session, documents)
            connection = connect(session, org, "bench", {}, {}, "bench:push")
            provider = InstantProvider()
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            summary = engine_push(session, connection, provider)
            if profiler:
                profiler.disable()
            seconds = time.perf_counter() - started
            if profiler and profile:
                profiler.dump_stats(profile)
            pushed = summary.pushed.get("receivable", 0)
            if pushed != documents:
                raise RuntimeError(f"the engine pushed {pushed} of {documents} documents ({summary.as_dict()})")
    return seconds * 1000 / documents


# -- report -----------------------------------------------------------------------------------------


def report_tryton(result: TrytonFigures, *, post: bool) -> list[Figure]:
    engine_rate = result.invoices / result.engine_seconds
    bare_rate = result.invoices / result.bare_seconds
    single_rate = result.single_invoices / result.single_seconds
    what = "created and posted" if post else "created as drafts"
    print(f"\nTryton, {result.invoices:,} invoices {what} ({result.single_invoices:,} one at a time):")
    print(f"{'':>27} {'invoices/s':>11} {'calls':>7} {'calls/invoice':>14}")
    for name, rate, calls, count in (
        ("engine (Pusher.push_all)", engine_rate, result.engine_calls, result.invoices),
        ("bare, batches of 50 (mean)", bare_rate, result.bare_calls, result.invoices),
        ("bare, one at a time", single_rate, result.single_calls, result.single_invoices),
    ):
        print(f"{name:>27} {rate:>11.1f} {calls:>7} {calls / count:>14.3f}")
    print(f"engine / bare batched: {engine_rate / bare_rate:.2f}x (target >= 0.8x); "
          f"{result.pushed:,} pushed, {result.errors} errors\n")
    if result.pushed != result.invoices or result.errors:
        raise RuntimeError(f"the engine pushed {result.pushed} of {result.invoices} invoices, {result.errors} errors")
    note = f"{result.invoices} invoices {what}"
    return [
        Figure(BENCHMARK, "Tryton: engine invoices/s", engine_rate, "docs/s", baseline=bare_rate,
               baseline_name="bare batched JSON-RPC", target=">= 0.8x", target_value=0.8, note=note),
        Figure(BENCHMARK, "Tryton: bare one at a time", single_rate, "docs/s", baseline=bare_rate,
               baseline_name="bare batched JSON-RPC", note=f"{result.single_invoices} invoices {what}"),
        Figure(BENCHMARK, "Tryton: engine calls per invoice", result.engine_calls / result.invoices, "calls/doc",
               better="lower", baseline=result.bare_calls / result.invoices, baseline_name="bare batched",
               note="JSON-RPC calls counted at the provider's transport, login and lookups included"),
        Figure(BENCHMARK, "Tryton: bare batched calls per invoice", result.bare_calls / result.invoices,
               "calls/doc", better="lower"),
    ]


def report_growth(per_doc: dict[int, float]) -> list[Figure]:
    sizes = sorted(per_doc)
    first = sizes[0]
    print("engine push to an instant in-memory provider (booksync's own cost per document):")
    print(f"{'documents':>10} {'ms/doc':>8} {'docs/s':>8} {'vs ' + format(first, ',') :>10}")
    for size in sizes:
        print(f"{size:>10,} {per_doc[size]:>8.3f} {1000 / per_doc[size]:>8,.0f} {per_doc[size] / per_doc[first]:>9.2f}x")
    print()
    return [
        Figure(BENCHMARK, f"growth: ms per document at {size:,}", per_doc[size], "ms/doc", better="lower",
               baseline=per_doc[first] if size != first else None,
               baseline_name=f"ms/doc at {first:,}" if size != first else "",
               note="instant in-memory provider: booksync's own cost; a ratio near 1 is flat")
        for size in sizes
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 invoices against Tryton, growth at 1k and 10k")
    parser.add_argument("--invoices", type=int, help="invoices pushed to Tryton by each side (default 1,000; quick 200)")
    parser.add_argument("--rounds", type=int, help="engine pushes of that many invoices, the bare script before, "
                        "between and after them (default 2; quick 1)")
    parser.add_argument("--single", type=int, help="invoices the one-at-a-time script creates (default a quarter)")
    parser.add_argument("--growth", type=int, nargs="*", help="sizes for the in-memory growth table "
                        "(default 1000 10000 100000; --quick: 1000 10000)")
    parser.add_argument("--post", action="store_true", help="post every invoice too, both sides (Tryton's posting "
                        "costs about 0.2 s an invoice here and hides the rest)")
    parser.add_argument("--skip-tryton", action="store_true", help="only the in-memory growth table")
    parser.add_argument("--profile", help="write a cProfile of the engine's Tryton push here "
                        "(and of the largest growth push to PROFILE.growth)")
    args = parser.parse_args()
    from config.logging import configure_logging

    configure_logging("json", "WARNING")
    import api.routes.synced_records  # noqa: F401  (a worker has loaded it by its first event: not timed)
    invoices = args.invoices or (200 if args.quick else 1_000)
    single = args.single or max(10, invoices // 4)
    figures: list[Figure] = []
    if not args.skip_tryton:
        rounds = args.rounds or (1 if args.quick else 2)
        figures += report_tryton(measure_tryton(invoices, single, rounds=rounds, post=args.post, profile=args.profile),
                                 post=args.post)
    sizes = args.growth if args.growth is not None else [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    if sizes:
        per_doc = {}
        for size in sorted(sizes):
            per_doc[size] = measure_growth(size, profile=f"{args.profile}.growth" if args.profile and
                                           size == max(sizes) else None)
        figures += report_growth(per_doc)
    emit(*figures)


if __name__ == "__main__":
    main()
