"""``booksync demo``: a real sync, end to end, on the embedded default.

Starts an accounting system locally (``--platform``: the Tryton sandbox, or the local QuickBooks Online, see
``cli.demo_books``), a worker and beat (SQLite, kombu's filesystem broker, all under ``.booksync/demo``), loads
an organization's documents through the same intake the API uses — counterparts, a product, bills and invoices,
and the payments of a paid bill, a paid invoice and a partly paid one — connects the organization (QuickBooks
through the real OAuth flow, the demo clicking Allow), triggers a sync, waits for it, and prints what happened,
down to the payments as the accounting system now shows them.
Everything it started is stopped at the end or on Ctrl-C, unless ``--keep-running``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

DEMO_HOME = Path(".booksync") / "demo"
ORGANIZATION_ID = uuid.UUID("0b5e1c7a-5d1e-4c2a-9a4e-000000000001")
SYNC_TIMEOUT = 300
#: (document, amount, method): BILL-1002 and INV-2001 paid in full, INV-2002 in part.
PAYMENTS = [("BILL-1002", 14_550, "bank_transfer"), ("INV-2001", 180_000, "card"), ("INV-2002", 20_000, "bank_transfer")]


def say(message: str) -> None:
    print(message, flush=True)


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the main process only: a Celery worker stops its own pool (signalling its children
    too can kill one holding the pool's queue lock, and the main process then waits on it forever)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


@contextmanager
def _environment(home: Path) -> Iterator[dict[str, str]]:
    """Point this process, and the processes it starts, at the demo's embedded default."""
    from config.settings import reset_settings_cache
    from models.db import reset_engine

    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("BOOKSYNC_")]:
        del os.environ[key]
    os.environ["BOOKSYNC_HOME"] = str(home)
    os.environ.setdefault("BOOKSYNC_LOG_FORMAT", "json")
    os.environ["BOOKSYNC_PROVIDER_ALLOWED_ADDRESSES"] = "loopback"  # the local Tryton; production: public only
    reset_settings_cache()
    logging.getLogger().setLevel(logging.WARNING)  # the demo speaks for itself; the workers log to files
    reset_engine()
    try:
        yield dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_settings_cache()
        reset_engine()


def _load_documents(session: Any) -> dict[str, Any]:
    """An organization's counterparts, a product, bills, invoices and payments, handed over as the platform would."""
    from api.intake import upsert_counterpart, upsert_payable, upsert_receivable
    from api.intake_payments import upsert_payment_record, upsert_product
    from models import Organization

    session.add(Organization(id=ORGANIZATION_ID, name="Acme Books Ltd"))
    session.flush()
    vendor, customer = uuid.uuid4(), uuid.uuid4()
    upsert_counterpart(session, ORGANIZATION_ID, vendor, {"name": "Initech Supplies", "is_vendor": True})
    upsert_counterpart(session, ORGANIZATION_ID, customer, {"name": "Umbrella Retail", "is_customer": True})
    today = date.today()

    product = uuid.uuid4()
    upsert_product(session, ORGANIZATION_ID, product, {
        "name": "Consulting day", "type": "service", "unit_price": 150_000, "currency": "USD", "unit": "day",
        "tax_rate_value": 2000})

    def document(counterpart: uuid.UUID, number: str, status: str, lines: list[tuple[str, int, int]]) -> dict[str, Any]:
        items = [{"description": d, "quantity": "1", "unit_price": price, "total": price, "tax_rate_value": rate,
                  **({"product_id": str(product)} if d.startswith("Consulting") else {})}
                 for d, price, rate in lines]
        subtotal = sum(price for _, price, _ in lines)
        tax = sum(price * rate // 10_000 for _, price, rate in lines)
        return {"counterpart_id": str(counterpart), "document_number": number, "currency": "USD", "status": status,
                "issue_date": today.isoformat(), "due_date": (today + timedelta(days=30)).isoformat(),
                "subtotal": subtotal, "tax_amount": tax, "total_amount": subtotal + tax, "line_items": items}

    bills = [
        ("BILL-1001", "waiting_to_be_paid", [("Office chairs", 24_000, 2000)]),
        ("BILL-1002", "paid", [("Printer paper", 4_500, 1000), ("Toner", 8_000, 2000)]),
        ("BILL-1003", "draft", [("Coffee beans (draft: not pushed)", 3_000, 2000)]),
        ("BILL-1004", "waiting_to_be_paid", [("Imported tools (7% tax: Tryton has no such rate)", 12_000, 700)]),
    ]
    invoices = [
        ("INV-2001", "paid", [("Consulting, November", 150_000, 2000)]),
        ("INV-2002", "partially_paid", [("Training day", 50_000, 1000)]),
    ]
    ids: dict[str, tuple[str, uuid.UUID]] = {}
    for number, status, lines in bills:
        ids[number] = ("payable", upsert_payable(session, ORGANIZATION_ID, uuid.uuid4(),
                                                 document(vendor, number, status, lines)).object.id)
    for number, status, lines in invoices:
        ids[number] = ("receivable", upsert_receivable(session, ORGANIZATION_ID, uuid.uuid4(),
                                                       document(customer, number, status, lines)).object.id)
    for number, amount, method in PAYMENTS:
        kind, document_id = ids[number]
        upsert_payment_record(session, ORGANIZATION_ID, uuid.uuid4(), {
            "object": {"type": kind, "id": str(document_id)}, "amount": amount, "currency": "USD",
            "paid_date": today.isoformat(), "payment_method": method, "reference": f"PAY-{number}"})
    session.commit()
    return {"bills": len(bills), "invoices": len(invoices), "payments": len(PAYMENTS)}


def _summary(result: dict[str, Any], connection_id: uuid.UUID, home: Path, seconds: float, system: str
             ) -> list[str]:
    from sqlalchemy import select

    from models import AccountingSyncedRecord
    from models.db import session_scope

    with session_scope() as session:
        records = session.execute(
            select(AccountingSyncedRecord).where(AccountingSyncedRecord.connection_id == connection_id)
            .order_by(AccountingSyncedRecord.object_type)
        ).scalars().all()
        by_status = Counter((r.object_type, r.sync_status) for r in records)
        errors = [(r.object_type, r.object_id, (r.errors or {}).get("message", "")) for r in records if r.sync_status == "error"]
        done = [(r.object_type, r.platform_object_id) for r in records if r.sync_status == "done"]

    lines = ["", f"booksync demo: sync of Acme Books Ltd with {system} {result['status']} in {seconds:.1f}s", ""]
    lines.append(f"Pulled from {system}:")
    for object_type, count in sorted(result["pulled"].items()):
        lines.append(f"  {object_type:<16} {count:>4}")
    lines.append(f"Pushed to {system} (synced records):")
    for object_type in sorted({t for t, _ in by_status}):
        lines.append(f"  {object_type:<16} {by_status[(object_type, 'done')]:>4} done  {by_status[(object_type, 'error')]:>2} error")
    lines.append("  (drafts are never pushed: BILL-1003 stays here)")
    if done:
        ids = ", ".join(f"{t} #{pid}" for t, pid in done if t in ("bill", "receivable"))
        lines.append(f"  {system} document ids: {ids}")
    lines += _payments(connection_id, system)
    if errors:
        lines.append("Errors a person can act on:")
        for object_type, object_id, message in errors:
            lines.append(f"  {object_type} {object_id}: {message}")
    bin_dir = Path(sys.executable).parent
    if bin_dir.is_relative_to(Path.cwd()):
        bin_dir = bin_dir.relative_to(Path.cwd())
    env, booksync, celery = f"BOOKSYNC_HOME={home}", bin_dir / "booksync", bin_dir / "celery"
    lines += [
        "",
        "Look further:",
        f"  {env} {booksync} records --organization {ORGANIZATION_ID}",
        f"  {env} {booksync} connections show {connection_id}",
        f"  {env} {booksync} push <record id>          # retry a failed push",
        f"  {env} {booksync} api                       # then GET /accounting-synced-records?object_type="
        "payment_record, GET /accounting/payables",
        f"  {env} {celery} -A worker flower            # needs --keep-running, to watch the worker",
        f"  logs: {home / 'logs'}",
    ]
    return lines


def _payments(connection_id: uuid.UUID, system: str) -> list[str]:
    """The platform's payments as the accounting system recorded them, and the documents they settle as it now
    shows them (what ``GET /accounting/payables|receivables`` serves)."""
    from sqlalchemy import select

    from models import AccountingDocument, AccountingSyncedRecord, PaymentRecord
    from models.db import session_scope
    from providers.money import format_amount

    lines: list[str] = []
    with session_scope() as session:
        records = {r.object_id: r for r in session.scalars(select(AccountingSyncedRecord).where(
            AccountingSyncedRecord.connection_id == connection_id))}
        pulled = {(d.kind, d.platform_id): d for d in session.scalars(select(AccountingDocument).where(
            AccountingDocument.connection_id == connection_id))}
        payments = sorted(session.scalars(select(PaymentRecord)),
                          key=lambda p: (p.document_type, p.document.document_number or "", p.paid_date, p.amount))
        for payment in payments:
            record, document = records.get(payment.id), payment.document
            document_record = records.get(document.id)
            if not lines:
                lines.append(f"Payments recorded in {system}:")
            what = f"{format_amount(payment.amount, payment.currency)} of {document.document_number}"
            if record is None or record.sync_status != "done":
                reason = (record.errors or {}).get("message", "not pushed") if record else "not pushed"
                lines.append(f"  {what}: {record.sync_status if record else 'pending'} ({reason})")
                continue
            lines.append(f"  {what}: {system} payment #{record.platform_object_id}")
            shown = pulled.get((payment.document_type, document_record.platform_object_id)) if document_record else None
            if shown is not None and shown.amount_due is not None:
                lines.append(f"      {system} shows {document.document_number} {shown.status}, "
                             f"{format_amount(shown.amount_due, shown.currency or payment.currency)} due")
    return lines


def run(keep_running: bool = False, home: Path = DEMO_HOME, platform: str = "tryton") -> int:
    from cli.demo_books import BOOKS

    if platform not in BOOKS:
        say(f"the demo runs with {' or '.join(sorted(BOOKS))}, not {platform!r}")
        return 2
    books = BOOKS[platform]()
    home = home.resolve()
    started = time.monotonic()
    if home.exists():
        _stop_leftovers(home)
        shutil.rmtree(home)
    (home / "logs").mkdir(parents=True)
    celery = str(Path(sys.executable).parent / "celery")
    with ExitStack() as cleanup, _environment(home) as env:
        books.start(home, say)
        if not keep_running:
            cleanup.callback(books.stop)
        os.environ.update(books.env)
        env.update(books.env)
        from config.settings import reset_settings_cache

        reset_settings_cache()

        say("[2/6] creating booksync's database (SQLite) ...")
        from models.db import session_scope
        from models.migrate import upgrade

        upgrade()
        say(f"[3/6] loading Acme Books Ltd's counterparts, a product, bills, invoices and payments through the intake, "
            f"connecting {books.name} ...")
        with session_scope() as session:
            loaded = _load_documents(session)
        connected = books.connect(ORGANIZATION_ID, say)
        connection_id = connected.connection_id
        say(f"      {loaded['bills']} bills, {loaded['invoices']} invoices, {loaded['payments']} payments; connected to "
            f"{books.name} company {connected.company!r}")

        say("[4/6] starting a Celery worker and beat on the filesystem broker ...")
        worker = _spawn([celery, "-A", "worker", "worker", "-c", "2", "--loglevel", "INFO", "-n", "demo@%h"],
                        home / "logs" / "worker.log", env)
        beat = _spawn([celery, "-A", "worker", "beat", "--loglevel", "INFO"], home / "logs" / "beat.log", env)
        if not keep_running:
            cleanup.callback(_stop, beat)
            cleanup.callback(_stop, worker)
        _wait_for(lambda: "ready" in (home / "logs" / "worker.log").read_text() or worker.poll() is not None,
                  60, "the worker to start")
        if worker.poll() is not None:
            say(f"the worker exited; see {home / 'logs' / 'worker.log'}")
            return 1

        say("[5/6] triggering a sync (tasks.sync_connection, trigger=manual) and waiting for it ...")
        from tasks import sync_connection

        sync_started = time.monotonic()
        result = sync_connection.apply_async(args=[str(connection_id), "manual"]).get(timeout=SYNC_TIMEOUT)
        seconds = time.monotonic() - sync_started

        say("[6/6] summary")
        for line in _summary(result, connection_id, home, seconds, books.name):
            say(line)
        if keep_running:
            running, stop = books.left_running()
            say("")
            say(f"Left running (--keep-running): {running}, worker pid {worker.pid}, beat pid {beat.pid}.")
            say(f"Stop them with: kill {worker.pid} {beat.pid}; {stop}")
        say(f"\ndemo finished in {time.monotonic() - started:.0f}s")
        return 0 if result["status"] == "done" else 1


def _stop_leftovers(home: Path) -> None:
    """A previous demo's local servers (kept with --keep-running) before its folder goes."""
    from sandboxes.quickbooks import stop_sandbox as stop_quickbooks
    from sandboxes.tryton.sandbox import stop_sandbox as stop_tryton

    stop_tryton(home / "tryton")
    stop_quickbooks(home / "quickbooks")
