"""Pull path: documents stored per second into PostgreSQL, and peak memory at 10,000 vs 100,000 documents.

An in-process provider answers pages instantly, so what is measured is booksync's own cost: mapping,
the set-based upsert, commits. The same rows are also written by a raw psycopg executemany upsert in
the same run, as the floor to compare against.

    python -m bench.pull_bench                # both sizes, 3 rounds each in fresh processes, medians
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

    def iter_documents(self, kind: DocumentKind, cursor: str | None) -> Iterator[Page[Document]]:
        start = int(cursor or 0)
        for first in range(start, self.documents, PAGE):
            last = min(first + PAGE, self.documents)
            yield Page([self.document(kind, i) for i in range(first, last)], str(last))

    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        return (str(i) for i in range(self.documents))

    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        return self.document(kind, int(platform_id))

    def push_counterpart(self, counterpart, key, platform_id) -> PushResult:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def push_document(self, document, key, platform_id) -> PushResult:  # type: ignore[no-untyped-def]
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


def _raw_upsert(url: str, connection_id: uuid.UUID, organization_id: uuid.UUID, documents: int) -> float:
    """The floor: psycopg executemany of the same rows and the same ON CONFLICT clause, nothing else."""
    import psycopg
    from sqlalchemy.engine import make_url

    from tasks.engine.pull import document_row

    provider = InstantProvider(documents)
    fake = type("C", (), {"id": connection_id, "organization_id": organization_id})()
    parsed = make_url(url)
    columns = list(document_row(fake, provider.document(DocumentKind.PAYABLE, 0), datetime.now(UTC)))  # type: ignore[arg-type]
    sql = (
        f"INSERT INTO accounting_documents (id, {', '.join(columns)}, created_at) VALUES "
        f"(gen_random_uuid(), {', '.join(['%s'] * len(columns))}, now()) ON CONFLICT (connection_id, kind, platform_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns)
    )

    def run() -> None:
        with psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname=parsed.database) as conn:
            now = datetime.now(UTC)
            for page in provider.iter_documents(DocumentKind.RECEIVABLE, None):
                rows = []
                for document in page.items:
                    row = document_row(fake, document, now)  # type: ignore[arg-type]
                    row["lines"] = psycopg.types.json.Jsonb(row["lines"])
                    rows.append(tuple(row.values()))
                with conn.cursor() as cursor:
                    cursor.executemany(sql, rows)
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
            baseline = peak_rss_mb()
            provider = InstantProvider(documents)
            now = datetime.now(UTC)
            seconds = timed(lambda: pull_documents(session, connection, provider, DocumentKind.PAYABLE,
                                                   now=now, on_page=lambda: None))
            peak = peak_rss_mb()
            raw_seconds = _raw_upsert(url, connection.id, connection.organization_id, documents)
    return {
        "documents": documents,
        "engine_docs_per_s": documents / seconds,
        "raw_docs_per_s": documents / raw_seconds,
        "engine_to_raw_ratio": raw_seconds / seconds,
        "peak_rss_mb": peak,
        "rss_growth_during_pull_mb": peak - baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, help="measure one size in this process and print JSON")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size; medians are printed")
    args = parser.parse_args()
    if args.documents:
        print(json.dumps(measure(args.documents)))
        return
    parser_rounds = args.rounds
    results = []
    for size in (10_000, 100_000):
        rounds = []
        for _ in range(parser_rounds):
            output = subprocess.run([sys.executable, "-m", "bench.pull_bench", "--documents", str(size)],
                                    check=True, capture_output=True, text=True).stdout
            rounds.append(json.loads(output.strip().splitlines()[-1]))
        results.append({key: statistics.median(r[key] for r in rounds) for key in rounds[0]})
    print(f"medians of {parser_rounds} rounds, each in a fresh process")
    print(f"{'documents':>10} {'booksync docs/s':>16} {'raw upsert docs/s':>18} {'booksync/raw':>13} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['documents']:>10,} {r['engine_docs_per_s']:>16,.0f} {r['raw_docs_per_s']:>18,.0f} "
              f"{r['engine_to_raw_ratio']:>13.2f} {r['peak_rss_mb']:>12.1f}")
    growth = results[1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
    print(f"peak memory growth from 10,000 to 100,000 documents: {growth:.1f} MB (target < 50 MB)")
    print(f"throughput at 100,000: {results[1]['engine_docs_per_s']:,.0f} documents/s (target >= 20,000)")


if __name__ == "__main__":
    main()
