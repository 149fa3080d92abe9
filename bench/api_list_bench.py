"""Listing synced records through the API stays fast as the table grows.

Seeds N synced records (default 1,000,000) across 1,000 organizations in a scratch PostgreSQL database
(in SQL, with generate_series), spread over a year; one organization holds a tenth of them, the rest
share the remainder.
Then asks the API (in process, through FastAPI's TestClient: authentication, validation and JSON
included) for a filtered page of 250 bills in a 60-day window, newest first, repeatedly: the first
page, and a page reached with a pagination token. Prints median and p95, and the EXPLAIN ANALYZE of
the exact SQL the API ran for each, which must use an index (no Seq Scan on synced records).

    python -m bench.api_list_bench [--rows 1000000] [--organizations 1000] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text

from bench.support import scratch_database

TARGET_MEDIAN_MS = 50.0
OBJECT_TYPES = ("bill", "receivable", "customer", "vendor", "product", "payment_record", "tax_rate")


def _seed(rows: int, organizations: int, now: datetime) -> uuid.UUID:
    """Organizations, one connection each, and ``rows`` synced records; returns the largest organization."""
    from models.db import get_engine

    big_share = rows // 10
    with get_engine().begin() as connection:
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        connection.execute(text(
            "INSERT INTO organizations (id, name, created_at, updated_at) "
            "SELECT gen_random_uuid(), 'org ' || n, :now, :now FROM generate_series(1, :n) AS n"),
            {"n": organizations, "now": now})
        connection.execute(text(
            "INSERT INTO accounting_connections (id, organization_id, platform, status, settings, errors, cursors, "
            "backfill, sync_count, retry_count, created_at, updated_at) "
            "SELECT gen_random_uuid(), id, 'tryton', 'connected', '{}', '[]', '{}', false, 0, 0, :now, :now "
            "FROM organizations"), {"now": now})
        connection.execute(text(
            "CREATE TEMPORARY TABLE numbered ON COMMIT DROP AS "
            "SELECT row_number() OVER (ORDER BY o.id) AS rn, o.id AS organization_id, c.id AS connection_id "
            "FROM organizations o JOIN accounting_connections c ON c.organization_id = o.id"))
        connection.execute(text(
            "INSERT INTO accounting_synced_records (id, organization_id, connection_id, object_type, object_id, "
            "platform, platform_object_id, platform_updated_at, sync_status, push_attempts, idempotency_key, "
            "last_pulled_at, created_at, updated_at) "
            "SELECT gen_random_uuid(), n.organization_id, n.connection_id, (CAST(:types AS text[]))[1 + g % 7], "
            "gen_random_uuid(), "
            "'tryton', 'P-' || g, s.created_at, "
            "CASE WHEN g % 10 = 0 THEN 'error' WHEN g % 10 = 1 THEN 'pending' ELSE 'done' END, 0, md5(g::text), "
            "s.created_at, s.created_at, s.created_at + (g % 1440) * interval '1 minute' "
            "FROM generate_series(1, :rows) AS g "
            "CROSS JOIN LATERAL (SELECT CAST(:now AS timestamptz) "
            "  - ((hashtext(g::text) & 2147483647) % 31536000) * interval '1 second' AS created_at) AS s "
            "JOIN numbered n ON n.rn = CASE WHEN g <= :big THEN 1 ELSE 2 + g % (:organizations - 1) END"),
            {"rows": rows, "big": big_share, "organizations": organizations, "now": now, "types": list(OBJECT_TYPES)})
        biggest = connection.execute(text("SELECT organization_id FROM numbered WHERE rn = 1")).scalar_one()
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE accounting_synced_records"))
    return uuid.UUID(str(biggest))


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


def _measure(client: Any, url: str, headers: dict[str, str], requests: int) -> tuple[list[float], dict[str, Any]]:
    for _ in range(5):
        client.get(url, headers=headers)
    timings = []
    body: dict[str, Any] = {}
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        body = response.json()
    return timings, body


def _plan_of(client: Any, url: str, headers: dict[str, str]) -> str:
    with _captured_sql() as captured:
        client.get(url, headers=headers)
    listing = [item for item in captured if "FROM accounting_synced_records" in item[0]]
    assert len(listing) == 1, f"expected one listing query, saw {len(listing)}"
    return _explain(*listing[0])


def _report(name: str, timings: list[float], rows: int, plan: str) -> bool:
    ordered = sorted(timings)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    uses_index = "Seq Scan on accounting_synced_records" not in plan and "Index" in plan
    print(f"\n{name}: {rows} rows per page, median {median:.1f} ms, p95 {p95:.1f} ms over {len(timings)} requests")
    print("  plan (EXPLAIN ANALYZE of the SQL the API ran):")
    print("\n".join(f"    {line}" for line in plan.splitlines()))
    print(f"  index used: {'yes' if uses_index else 'NO (sequential scan)'}; "
          f"median {'under' if median < TARGET_MEDIAN_MS else 'OVER'} the {TARGET_MEDIAN_MS:.0f} ms target")
    return uses_index and median < TARGET_MEDIAN_MS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--organizations", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    if args.organizations < 2:
        parser.error("--organizations must be at least 2")
    if not os.environ.get("BOOKSYNC_SECRET_KEY"):
        from cryptography.fernet import Fernet

        os.environ["BOOKSYNC_SECRET_KEY"] = Fernet.generate_key().decode()

    with scratch_database("booksync_api_bench"):
        from fastapi.testclient import TestClient

        from api.app import create_app
        from api.keys import create_api_key
        from models.db import session_scope

        now = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        organization_id = _seed(args.rows, args.organizations, now)
        print(f"seeded {args.rows:,} synced records across {args.organizations:,} organizations "
              f"in {time.perf_counter() - started:.1f} s (one organization holds {args.rows // 10:,})")
        with session_scope() as session:
            key = create_api_key(session, organization_id, name="bench").key
        headers = {"Authorization": f"Bearer {key}", "X-Organization-Id": str(organization_id)}
        window = (
            f"created_at__gte={(now - timedelta(days=90)).isoformat().replace('+00:00', 'Z')}"
            f"&created_at__lt={(now - timedelta(days=30)).isoformat().replace('+00:00', 'Z')}"
        )
        first_url = f"/accounting-synced-records?object_type=bill&{window}&sort=created_at&order=desc&limit=250"
        ok = True
        with TestClient(create_app()) as client:
            timings, body = _measure(client, first_url, headers, args.requests)
            ok &= _report("first page", timings, len(body["data"]), _plan_of(client, first_url, headers))
            token = body["next_pagination_token"]
            assert token, "the window holds fewer than 250 bills; seed more rows"
            next_url = f"/accounting-synced-records?object_type=bill&limit=250&pagination_token={token}"
            timings, body = _measure(client, next_url, headers, args.requests)
            ok &= _report("page via pagination_token", timings, len(body["data"]), _plan_of(client, next_url, headers))
        print("\nverdict:", "PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
