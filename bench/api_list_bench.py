"""The API under load: the sync-log list and an intake PUT, against the HTTP floor, as the table grows.

Seeds synced records across 1,000 organizations in a scratch PostgreSQL database (in SQL, with
generate_series), spread over a year; one organization holds a quarter of them. The API runs as in
production (``booksync api``: uvicorn, its own process), and so does the floor: a FastAPI app
(``bench.api_floor``) under the same uvicorn whose routes answer prebuilt bytes, the same page's JSON
and a real PUT's answer. From this process, one kept-alive connection, requests one after another:

* ``GET /accounting-synced-records``: a page of 250 bills of the big organization in a 60-day window,
  newest first (the growth steps: its newest 250 bills, no window) (authentication, validation, SQL, JSON), against ``GET /floor`` (the same bytes);
* ``PUT /receivables/{id}``: a new invoice each, against ``PUT /floor/{id}`` (same body, constant answer);

first alone, then while a sync in another process pushes ``--documents`` invoices to in-memory books
(``--latency`` s per call). Median, p99 and requests a second of each; target (issue 17, item 6): the
page in at most 2x the floor's time. The list is also timed at each smaller size of ``--steps`` as the
table grows (item 7), and the EXPLAIN ANALYZE of the SQL the API ran must use an index.

    python -m bench.api_list_bench [--quick] [--rows 1000000] [--steps 10000,100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, text

from bench.report import Figure, emit
from bench.support import free_port, scratch_database, served

BENCHMARK = "API under load"
TARGET_FLOOR_RATIO = 2.0
PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OBJECT_TYPES = ("bill", "receivable", "customer", "vendor", "product", "payment_record", "tax_rate")


def _seed_organizations(organizations: int, now: datetime) -> uuid.UUID:
    """Organizations and one connection each; returns the one that holds a quarter of the records."""
    from models.db import get_engine

    with get_engine().begin() as connection:
        connection.execute(text(
            "INSERT INTO organizations (id, name, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'org ' || n, :now, :now FROM generate_series(1, :n) AS n"),
            {"n": organizations, "now": now})
        connection.execute(text(
            "INSERT INTO accounting_connections (id, organization_id, platform, status, settings, errors, cursors, "
            "backfill, sync_count, retry_count, created_at, updated_at) "
            "SELECT gen_random_uuid(), id, 'tryton', 'connected', '{}', '[]', '{}', false, 0, 0, :now, :now "
            "FROM organizations"), {"now": now})
        return uuid.UUID(str(connection.execute(text(
            "SELECT o.id FROM organizations o ORDER BY o.id LIMIT 1")).scalar_one()))


def _seed(first: int, rows: int, now: datetime) -> None:
    """Synced records ``first + 1`` to ``first + rows``, spread over a year and the organizations: every
    fourth to the first organization (by id), the rest round the others. Any prefix keeps those shares,
    so the table can grow in steps."""
    from models.db import get_engine

    with get_engine().begin() as connection:
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        organizations = connection.execute(text("SELECT count(*) FROM organizations")).scalar_one()
        connection.execute(text(
            "CREATE TEMPORARY TABLE numbered ON COMMIT DROP AS "
            "SELECT row_number() OVER (ORDER BY o.id) AS rn, o.id AS organization_id, c.id AS connection_id "
            "FROM organizations o JOIN accounting_connections c ON c.organization_id = o.id"))
        connection.execute(text(
            "INSERT INTO accounting_synced_records (id, organization_id, connection_id, books_id, object_type, "
            "object_id, platform, platform_object_id, platform_updated_at, sync_status, push_attempts, push_failures, "
            "idempotency_key, last_pulled_at, created_at, updated_at) "
            "SELECT gen_random_uuid(), n.organization_id, n.connection_id, 'connection:' || n.connection_id, "
            "(CAST(:types AS text[]))[1 + g % 7], gen_random_uuid(), "
            "'tryton', 'P-' || g, s.created_at, "
            "CASE WHEN (g / 4) % 10 = 0 THEN 'error' WHEN (g / 4) % 10 = 1 THEN 'pending' ELSE 'done' END, 0, 0, "
            "md5(g::text), s.created_at, s.created_at, s.created_at + (g % 1440) * interval '1 minute' "
            "FROM generate_series(:first + 1, :first + :rows) AS g "
            "CROSS JOIN LATERAL (SELECT CAST(:now AS timestamptz) "
            "  - ((hashtext(g::text) & 2147483647) % 31536000) * interval '1 second' AS created_at) AS s "
            "JOIN numbered n ON n.rn = CASE WHEN g % 4 = 0 THEN 1 ELSE 2 + g % (:organizations - 1) END"),
            {"first": first, "rows": rows, "organizations": organizations, "now": now, "types": list(OBJECT_TYPES)})
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE accounting_synced_records"))


@contextmanager
def _captured_sql() -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) the API sends to PostgreSQL while inside the block."""
    from models.db import get_engine

    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        captured.append((statement, parameters))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def _explain(statement: str, parameters: Any) -> str:
    from models.db import get_engine

    with get_engine().connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
        return "\n".join(row[0] for row in rows)


def _plan_of(client: Any, url: str, headers: dict[str, str]) -> str:
    with _captured_sql() as captured:
        client.get(url, headers=headers)
    listing = [item for item in captured if "FROM accounting_synced_records" in item[0]]
    assert len(listing) == 1, f"expected one listing query, saw {len(listing)}"
    return _explain(*listing[0])


def _uses_index(plan: str) -> bool:
    return "Seq Scan on accounting_synced_records" not in plan and "Index" in plan


@dataclass(frozen=True)
class Timings:
    """Sequential requests over one kept-alive connection: latencies (ms) and the wall time of them all."""

    latencies: list[float]
    seconds: float

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


def _requests(client: httpx.Client, method: str, url: str, count: int, *, headers: dict[str, str] | None = None,
              body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200,), fresh_ids: bool = False) -> Timings:
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        target = f"{url}/{uuid.uuid4()}" if fresh_ids else url
        sent = time.perf_counter()
        response = client.request(method, target, headers=headers, json=body)
        latencies.append((time.perf_counter() - sent) * 1000)
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {url} answered {response.status_code}: {response.text[:300]}")
    return Timings(latencies, time.perf_counter() - started)




@dataclass
class Round:
    """One round of the measurements: the list, its floor, the intake PUT, its floor, and one record's GET
    (authentication and one row: what any request of the API costs before its own work)."""

    page: Timings
    page_floor: Timings
    put: Timings
    put_floor: Timings
    one: Timings


def _round(client: httpx.Client, api: str, floor: str, list_url: str, list_headers: dict[str, str],
           put_headers: dict[str, str], put_body: dict[str, Any], requests: int, one_url: str) -> Round:
    # interleaved in small blocks, so that a drift in the machine's load falls on both sides alike
    parts: dict[str, list[Timings]] = {"page": [], "page_floor": [], "put": [], "put_floor": [], "one": []}
    block = max(10, requests // 5)
    for _ in range(max(1, requests // block)):
        parts["page"].append(_requests(client, "GET", api + list_url, block, headers=list_headers))
        parts["page_floor"].append(_requests(client, "GET", floor + "/floor", block))
        parts["put"].append(_requests(client, "PUT", api + "/receivables", block, headers=put_headers, body=put_body,
                                      ok=(200, 201), fresh_ids=True))
        parts["put_floor"].append(_requests(client, "PUT", floor + "/floor", block, body=put_body, ok=(201,),
                                            fresh_ids=True))
        parts["one"].append(_requests(client, "GET", api + one_url, block, headers=list_headers))
    return Round(**{name: Timings([x for t in runs for x in t.latencies], sum(t.seconds for t in runs))
                    for name, runs in parts.items()})


def _fmt(label: str, timings: Timings) -> str:
    return (f"  {label:<44} median {timings.median:7.2f} ms  p99 {timings.p99:7.2f} ms  "
            f"{timings.per_second:8,.0f} requests/s")


def _figures(when: str, rows: int, result: Round) -> list[Figure]:
    size = f"{rows:,} records"
    return [
        Figure(BENCHMARK, f"list page of 250, {when}, median ({size})", result.page.median, "ms", better="lower",
               baseline=result.page_floor.median, baseline_name="prebuilt-JSON route",
               target="<= 2x the floor's time", target_value=1 / TARGET_FLOOR_RATIO),
        Figure(BENCHMARK, f"list page of 250, {when}, p99 ({size})", result.page.p99, "ms", better="lower",
               baseline=result.page_floor.p99, baseline_name="prebuilt-JSON route"),
        Figure(BENCHMARK, f"list page of 250, {when}, requests/s ({size})", result.page.per_second, "requests/s",
               baseline=result.page_floor.per_second, baseline_name="prebuilt-JSON route"),
        Figure(BENCHMARK, f"one synced record's GET, {when}, median", result.one.median, "ms", better="lower",
               baseline=result.page_floor.median, baseline_name="prebuilt-JSON route",
               note="authentication and one row: the API's cost of any request"),
        Figure(BENCHMARK, f"intake PUT /receivables, {when}, median", result.put.median, "ms", better="lower",
               baseline=result.put_floor.median, baseline_name="constant-answer PUT route"),
        Figure(BENCHMARK, f"intake PUT /receivables, {when}, p99", result.put.p99, "ms", better="lower",
               baseline=result.put_floor.p99, baseline_name="constant-answer PUT route"),
        Figure(BENCHMARK, f"intake PUT /receivables, {when}, requests/s", result.put.per_second, "requests/s",
               baseline=result.put_floor.per_second, baseline_name="constant-answer PUT route"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="synced records at the end (the last step)")
    parser.add_argument("--steps", default="10000,100000",
                        help="smaller sizes the list latency is also measured at (growth), comma-separated")
    parser.add_argument("--organizations", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind per measurement")
    parser.add_argument("--documents", type=int, default=2_000, help="invoices the concurrent sync pushes")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each of the sync's provider calls takes")
    parser.add_argument("--quick", action="store_true", help="100,000 records (growth at 10,000), 100 requests")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.steps, args.requests, args.documents = 100_000, "10000", 100, 1_000
    if args.organizations < 2:
        parser.error("--organizations must be at least 2")
    steps = sorted({int(item) for item in args.steps.split(",") if item.strip() and int(item) < args.rows} | {args.rows})
    if not os.environ.get("BOOKSYNC_SECRET_KEY"):
        from cryptography.fernet import Fernet

        os.environ["BOOKSYNC_SECRET_KEY"] = Fernet.generate_key().decode()

    with tempfile.TemporaryDirectory(prefix="booksync-api-bench-") as folder, \
            scratch_database("booksync_api_bench") as database_url:
        home = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKSYNC_")}
        env.update(BOOKSYNC_DATABASE_URL=database_url, BOOKSYNC_HOME=str(home), BOOKSYNC_LOG_LEVEL="WARNING",
                   BOOKSYNC_BROKER_URL="filesystem://", BOOKSYNC_SECRET_KEY=os.environ["BOOKSYNC_SECRET_KEY"])
        os.environ.update({k: v for k, v in env.items() if k.startswith("BOOKSYNC_")})
        from config.settings import reset_settings_cache
        from models.db import reset_engine

        reset_settings_cache()
        reset_engine()
        from fastapi.testclient import TestClient

        from api.app import create_app
        from api.keys import create_api_key
        from bench.write_latency_bench import _seed as seed_pushing_organization
        from models.db import session_scope

        now = datetime.now(UTC).replace(microsecond=0)
        biggest = _seed_organizations(args.organizations, now)
        with session_scope() as session:
            key = create_api_key(session, biggest, name="bench").key
        books = f"api-bench-{uuid.uuid4().hex[:6]}"
        pushing, platform_key, customer, connection_id = seed_pushing_organization(args.documents, books, 5)
        list_headers = {"Authorization": f"Bearer {key}", "X-Organization-Id": str(biggest)}
        put_headers = {"Authorization": f"Bearer {platform_key}", "X-Organization-Id": pushing}
        put_body = {
            "counterpart_id": customer, "document_number": "W", "currency": "USD", "status": "draft",
            "issue_date": date.today().isoformat(), "due_date": date.today().isoformat(), "subtotal": 1000,
            "tax_amount": 200, "total_amount": 1200,
            "line_items": [{"description": "Item", "quantity": 1, "unit_price": 1000, "tax_rate_value": 2000}],
        }
        window = (
            f"created_at__gte={(now - timedelta(days=90)).isoformat().replace('+00:00', 'Z')}"
            f"&created_at__lt={(now - timedelta(days=30)).isoformat().replace('+00:00', 'Z')}"
        )
        list_url = f"/accounting-synced-records?object_type=bill&{window}&sort=created_at&order=desc&limit=250"
        newest_url = "/accounting-synced-records?object_type=bill&sort=created_at&order=desc&limit=250"

        api_port = free_port()
        growth: list[tuple[int, Timings]] = []
        seeded = 0
        with served([str(BIN / "booksync"), "api", "--port", str(api_port)], env, api_port) as api, \
                httpx.Client(timeout=60) as client:
            for step in steps:
                started = time.perf_counter()
                _seed(seeded, step - seeded, now)
                print(f"seeded {step - seeded:,} more synced records ({step:,} in all, a quarter in one organization) "
                      f"in {time.perf_counter() - started:.1f} s", flush=True)
                seeded = step
                _requests(client, "GET", api + newest_url, 10, headers=list_headers)  # warm: caches, pool
                growth.append((step, _requests(client, "GET", api + newest_url, args.requests, headers=list_headers)))

            page = client.get(api + list_url, headers=list_headers)
            written = client.put(f"{api}/receivables/{uuid.uuid4()}", headers=put_headers, json=put_body)
            assert page.status_code == 200 and len(page.json()["data"]) == 250, "the window holds fewer than 250 bills"
            one_url = f"/accounting-synced-records/{page.json()['data'][0]['id']}"
            (home / "page.json").write_bytes(page.content)
            (home / "put.json").write_bytes(written.content)
            floor_port = free_port()
            floor_env = {**env, "BOOKSYNC_BENCH_FLOOR_GET": str(home / "page.json"),
                         "BOOKSYNC_BENCH_FLOOR_PUT": str(home / "put.json")}
            floor_args = [str(BIN / "uvicorn"), "bench.api_floor:create_app", "--factory", "--host", "127.0.0.1",
                          "--port", str(floor_port), "--no-server-header", "--proxy-headers", "--log-level", "warning"]
            with served(floor_args, floor_env, floor_port) as floor:
                _round(client, api, floor, list_url, list_headers, put_headers, put_body, 20, one_url)  # warm-up
                alone = _round(client, api, floor, list_url, list_headers, put_headers, put_body, args.requests,
                               one_url)
                sync = subprocess.Popen(
                    [sys.executable, "-m", "bench.write_latency_bench", "--run-sync", connection_id, "--books", books,
                     "--latency", str(args.latency)], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True)
                time.sleep(1.0)  # the sync has pulled and is pushing
                during = _round(client, api, floor, list_url, list_headers, put_headers, put_body, args.requests,
                                one_url)
                still_pushing = sync.poll() is None
                output, _ = sync.communicate(timeout=max(600.0, args.documents * args.latency * 2))
        pushed = json.loads(output.strip().splitlines()[-1])
        with TestClient(create_app()) as local:
            plan = _plan_of(local, list_url, list_headers)

    print(f"\nAPI under load: {args.rows:,} synced records; the list is a page of 250 bills in a 60-day window of "
          f"one organization holding {args.rows // 4:,}; sequential requests over one kept-alive connection")
    for label, result in (("alone", alone), ("while a sync pushes", during)):
        print(f" {label}:")
        print(_fmt("GET /accounting-synced-records (250)", result.page))
        print(_fmt("floor: the same page's JSON, prebuilt", result.page_floor))
        print(_fmt("PUT /receivables/{id}", result.put))
        print(_fmt("floor: a PUT answering a constant", result.put_floor))
        print(_fmt("GET /accounting-synced-records/{id} (one)", result.one))
        print(f"  page / floor (median): {result.page.median / result.page_floor.median:.2f}x "
              f"(target <= {TARGET_FLOOR_RATIO:.0f}x)")
    print(f" the sync pushed {pushed['pushed'].get('receivable', 0)} invoices ({pushed['status']}) in "
          f"{pushed['ms'] / 1000:.1f} s{'' if still_pushing else ' [it ended before the measurement: raise --documents]'}")
    print(f" list plan uses an index: {'yes' if _uses_index(plan) else 'NO'}\n" + "\n".join(
        f"    {line}" for line in plan.splitlines()))
    print("\n growth (the newest 250 bills of the big organization, by the table's size):")
    print(f"  {'records':>10} {'median ms':>10} {'p99 ms':>8} {'x smallest':>11}")
    for rows, timings in growth:
        print(f"  {rows:>10,} {timings.median:>10.2f} {timings.p99:>8.2f} {timings.median / growth[0][1].median:>11.2f}")

    figures = _figures("alone", args.rows, alone) + _figures("while a sync pushes", args.rows, during)
    figures.append(Figure(BENCHMARK, "intake PUT p99 while a sync pushes", during.put.p99, "ms", better="lower",
                          baseline=alone.put.p99, baseline_name="the same PUT, no sync",
                          target="<= 2x without the sync", target_value=0.5))
    smallest, smallest_timings = growth[0]
    for rows, timings in growth:
        figures.append(Figure(BENCHMARK, f"growth: list page of 250 at {rows:,} records, median", timings.median, "ms",
                              better="lower", baseline=smallest_timings.median,
                              baseline_name=f"the same list at {smallest:,} records",
                              note="flat growth is a ratio near 1"))
    figures.append(Figure(BENCHMARK, "list plan uses an index", 1.0 if _uses_index(plan) else 0.0, "yes/no",
                          target="yes", target_value=1.0, target_on="value"))
    emit(*figures)


if __name__ == "__main__":
    main()
