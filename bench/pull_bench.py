"""Pull path: documents stored per second into PostgreSQL, and peak memory at 10,000 vs 100,000 documents.

An in-process provider answers pages built before the clock starts, so what is measured is booksync's own cost: mapping,
the set-based upsert, commits. The same rows are also written straight through psycopg in the same run —
COPY of each page into a staging table and one upsert, as booksync does — as the floor to compare against.

    python -m bench.pull_bench [--quick]      # 1k, 10k, 100k; 3 rounds each (1 with --quick) in fresh processes
    python -m bench.pull_bench --documents N  # one size, in this process
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bench.report import Figure, emit
from bench.support import peak_rss_mb, scratch_database, timed
from config.secrets import Credentials
from providers.base import AccountingProvider
from providers.types import ConnectionCheck, Document, DocumentKind, LineItem, Page, PushResult

PAGE = 500


class InstantProvider(AccountingProvider):
    """Answers pulls from memory, generating each page on demand (no list of all documents)."""

    platform = "bench"

    def __init__(self, documents: int) -> None:
        super().__init__({}, Credentials())
        self.documents = documents
        self.pages: list[Page[Document]] | None = None

    def check(self) -> ConnectionCheck:
        return ConnectionCheck("bench")

    def list_tax_rates(self):  # type: ignore[no-untyped-def]
        return iter(())

    def list_ledger_accounts(self):  # type: ignore[no-untyped-def]
        return iter(())

    def document(self, kind: DocumentKind, index: int) -> Document:
        return Document(
            kind=kind, platform_id=str(index), currency="USD", total_amount=12_000 + index, status="posted",
            document_number=f"INV-{index:07d}", reference=f"REF-{index}", counterpart_platform_id=str(index % 97),
            counterpart_name=f"Party {index % 97}", subtotal=10_000 + index, tax_amount=2_000, amount_due=0,
            issue_date=date(2026, 11, 1), due_date=date(2026, 12, 1), memo="bench",
            lines=(LineItem("Widget", Decimal(2), 5_000, 10_000, 2000, "1", "6.1"),),
            updated_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=index),
        )

    def prebuild(self, kind: DocumentKind) -> None:
        """Build every page now, so a timed pull measures booksync and not this provider."""
        self.pages = list(self._pages(kind, None))

    def iter_documents(self, kind: DocumentKind, cursor: str | None, *, lag_seconds: float = 0.0) -> Iterator[Page[Document]]:
        if self.pages is not None and cursor is None:
            return iter(self.pages)
        return self._pages(kind, cursor)

    def _pages(self, kind: DocumentKind, cursor: str | None) -> Iterator[Page[Document]]:
        start = int(cursor or 0)
        for first in range(start, self.documents, PAGE):
            last = min(first + PAGE, self.documents)
            yield Page([self.document(kind, i) for i in range(first, last)], str(last))

    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        return (str(i) for i in range(self.documents))

    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        return self.document(kind, int(platform_id))

    def push_counterpart(self, counterpart, key, platform_id, *, may_exist=True) -> PushResult:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def push_document(self, document, key, platform_id, *, may_exist=True) -> PushResult:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def find_pushed(self, kind, key):  # type: ignore[no-untyped-def]
        return None


def _connection(session):  # type: ignore[no-untyped-def]
    from models import AccountingConnection, Organization

    org = Organization(name="bench")
    session.add(org)
    session.flush()
    connection = AccountingConnection(organization_id=org.id, platform="bench", status="connected", credentials={})
    session.add(connection)
    session.commit()
    return connection


def _raw_rows(connection_id: uuid.UUID, organization_id: uuid.UUID, documents: int) -> tuple[list[str], Iterator[list[tuple[object, ...]]]]:
    from tasks.engine.pull import document_row

    provider = InstantProvider(documents)
    fake = type("C", (), {"id": connection_id, "organization_id": organization_id})()
    columns = list(document_row(fake, provider.document(DocumentKind.PAYABLE, 0), datetime.now(UTC)))  # type: ignore[arg-type]

    def pages() -> Iterator[list[tuple[object, ...]]]:
        now = datetime.now(UTC)
        for page in provider.iter_documents(DocumentKind.RECEIVABLE, None):
            yield [tuple(document_row(fake, document, now).values()) for document in page.items]  # type: ignore[arg-type]

    return columns, pages()


def _raw_copy_upsert(url: str, connection_id: uuid.UUID, organization_id: uuid.UUID, documents: int) -> float:
    """The floor: the same rows COPied page by page into a staging table and merged with one upsert each,
    straight through psycopg (what booksync does, minus booksync)."""
    import psycopg
    from sqlalchemy.engine import make_url

    columns, lazy_pages = _raw_rows(connection_id, organization_id, documents)
    pages = list(lazy_pages)  # built before the clock starts: the floor is the load alone
    json_positions = [index for index, name in enumerate(columns) if name == "lines"]
    parsed = make_url(url)
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("connection_id", "kind", "platform_id", "created_at"))

    def run() -> None:
        with psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname=parsed.database) as conn:
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE TEMP TABLE raw_stage ON COMMIT DELETE ROWS AS SELECT {names} "
                               "FROM accounting_documents WITH NO DATA")
            conn.commit()
            for rows in pages:
                with conn.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    with cursor.copy(f"COPY raw_stage ({names}) FROM STDIN") as copy:
                        for row in rows:
                            values = list(row)
                            for index in json_positions:
                                values[index] = json.dumps(values[index])
                            copy.write_row(values)
                    cursor.execute(f"INSERT INTO accounting_documents (id, {names}) SELECT gen_random_uuid(), "
                                   f"{names} FROM raw_stage ON CONFLICT (connection_id, kind, platform_id) "
                                   f"DO UPDATE SET {updates}")
                conn.commit()

    return timed(run)


def measure(documents: int) -> dict[str, float]:
    from models.db import get_sessionmaker
    from providers.types import DocumentKind
    from tasks.engine.pull import pull_documents

    with scratch_database("booksync_bench_pull") as url:
        sessions = get_sessionmaker()
        with sessions() as session:
            connection = _connection(session)
            provider = InstantProvider(documents)
            provider.prebuild(DocumentKind.PAYABLE)
            baseline = peak_rss_mb()
            now = datetime.now(UTC)
            seconds = timed(lambda: pull_documents(session, connection, provider, DocumentKind.PAYABLE,
                                                   now=now, lag_seconds=0.0, checkpoint=lambda: None))
            peak = peak_rss_mb()
            raw_seconds = _raw_copy_upsert(url, connection.id, connection.organization_id, documents)
    return {
        "documents": documents,
        "engine_docs_per_s": documents / seconds,
        "raw_docs_per_s": documents / raw_seconds,
        "engine_to_raw_ratio": raw_seconds / seconds,
        "peak_rss_mb": peak,
        "rss_growth_during_pull_mb": peak - baseline,
    }


SIZES = (1_000, 10_000, 100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, help="measure one size in this process and print JSON")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size; medians are printed")
    parser.add_argument("--quick", action="store_true", help="one round of the smaller sizes (the largest keeps its rounds)")
    args = parser.parse_args()
    if args.documents:
        print(json.dumps(measure(args.documents)))
        return
    results = []
    for size in SIZES:
        rounds = []
        for _ in range(1 if args.quick and size < SIZES[-1] else args.rounds):
            output = subprocess.run([sys.executable, "-m", "bench.pull_bench", "--documents", str(size)],
                                    check=True, capture_output=True, text=True).stdout
            rounds.append(json.loads(output.strip().splitlines()[-1]))
        results.append({key: statistics.median(r[key] for r in rounds) for key in rounds[0]})
    print(f"medians of {args.rounds} rounds{' (1 below the largest size)' if args.quick else ''}, each in a fresh process")
    print(f"{'documents':>10} {'booksync docs/s':>16} {'raw COPY docs/s':>16} {'booksync/raw':>13} "
          f"{'us/doc':>7} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['documents']:>10,} {r['engine_docs_per_s']:>16,.0f} {r['raw_docs_per_s']:>16,.0f} "
              f"{r['engine_to_raw_ratio']:>13.2f} {1e6 / r['engine_docs_per_s']:>7.1f} {r['peak_rss_mb']:>12.1f}")
    by_size = {int(r["documents"]): r for r in results}
    largest = by_size[SIZES[-1]]
    growth = largest["rss_growth_during_pull_mb"] - by_size[10_000]["rss_growth_during_pull_mb"]
    figures = [
        Figure("pull", f"{SIZES[-1]:,} documents stored", largest["engine_docs_per_s"], "docs/s",
               baseline=largest["raw_docs_per_s"], baseline_name="raw COPY + one upsert a page",
               target=">= 0.8x", target_value=0.8),
        Figure("pull", "peak RSS growth 10k -> 100k documents", growth, "MB", better="lower",
               target="< 50 MB", target_value=50, target_on="value"),
    ]
    figures += [Figure("growth", f"pull, {size:,} documents", 1000 / by_size[size]["engine_docs_per_s"], "ms/doc",
                       better="lower", note="flat means linear total cost") for size in SIZES]
    emit(*figures)


if __name__ == "__main__":
    main()
