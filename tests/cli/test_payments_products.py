"""``documents import`` of products and payment records, and ``connections defaults``, run as a user runs them."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

from tests.cli.support import Cli, add, connection, organization


def test_import_takes_products_and_payment_records_and_a_deletion(cli: Cli, tmp_path: Path) -> None:
    from models import PaymentRecord, Product, session_scope

    org = organization()
    vendor, bill, product, payment = (uuid.uuid4() for _ in range(4))
    ids = {"organization_id": str(org.id)}
    lines = [
        {"type": "counterpart", **ids, "id": str(vendor), "name": "Paper Co", "is_vendor": True},
        {"type": "product", **ids, "id": str(product), "name": "Paper, A4", "type": "product", "unit_price": 450,
         "currency": "EUR", "unit": "u"},
        {"type": "payable", **ids, "id": str(bill), "counterpart_id": str(vendor), "currency": "EUR",
         "status": "waiting_to_be_paid", "subtotal": 9000, "tax_amount": 1800, "total_amount": 10800,
         "line_items": [{"description": "Paper", "quantity": 20, "unit_price": 450, "tax_rate_value": 2000,
                         "product_id": str(product)}]},
        {"type": "payment_record", **ids, "id": str(payment), "object": {"type": "payable", "id": str(bill)},
         "amount": 4000, "currency": "EUR", "paid_date": date.today().isoformat(), "reference": "SEPA-1"},
        {"type": "payment_record", **ids, "id": str(uuid.uuid4()), "object": {"type": "payable", "id": str(bill)},
         "amount": 9000, "currency": "EUR", "paid_date": date.today().isoformat()},
    ]
    path = tmp_path / "documents.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = cli("documents", "import", str(path))
    assert result.status == 1
    assert result.stdout.strip() == "4 created, 0 updated, 0 unchanged, 1 refused"
    (refusal,) = result.stderr.splitlines()[1:]
    assert refusal.split()[:2] == ["5", "amount"] and "at most 68.00 EUR is left" in refusal

    deleted = json.dumps({**lines[3], "status": "deleted"})
    again = cli("documents", "import", "-", "--json", input=deleted)
    assert again.status == 0, again.stderr
    assert json.loads(again.stdout) == {"created": 0, "updated": 1, "unchanged": 0, "refused": []}
    with session_scope() as session:
        assert session.get(PaymentRecord, payment).status == "deleted"  # type: ignore[union-attr]
        assert session.get(Product, product).unit_price == 450  # type: ignore[union-attr]


def test_defaults_are_shown_changed_and_cleared(cli: Cli) -> None:
    from models import LedgerAccount

    org = organization()
    conn = connection(org, books_id="tryton:http://127.0.0.1:8000/sync_demo/1")
    bank = LedgerAccount(id=uuid.uuid4(), organization_id=org.id, connection_id=conn.id, books_id=conn.books,
                         platform_id="35", name="Cash and Cash Equivalents", nominal_code="1.1.1", type="Asset")
    elsewhere = LedgerAccount(id=uuid.uuid4(), organization_id=org.id, connection_id=conn.id, books_id="other",
                              platform_id="35", name="Cash elsewhere", type="Asset")
    add(bank, elsewhere)

    shown = cli("connections", "defaults", str(conn.id))
    assert shown.status == 0, shown.stderr
    assert "payments go to:" in shown.stdout and "(not set: the accounting system's default)" in shown.stdout

    changed = cli("connections", "defaults", str(conn.id), "--payment-account", str(bank.id), "--json")
    assert changed.status == 0, changed.stderr
    assert json.loads(changed.stdout) == {
        "payment_ledger_account_id": {"id": str(bank.id), "name": "Cash and Cash Equivalents", "nominal_code": "1.1.1"},
        "product_ledger_account_id": None,
    }
    assert f"{bank.id} (1.1.1 Cash and Cash Equivalents)" in cli("connections", "defaults", str(conn.id)).stdout
    show = json.loads(cli("connections", "show", str(conn.id), "--json").stdout)
    assert show["defaults"] == {"payment_ledger_account_id": str(bank.id)}

    refused = cli("connections", "defaults", str(conn.id), "--product-account", str(elsewhere.id))
    assert refused.status == 1
    assert refused.error_lines == [f"booksync: product_ledger_account_id: ledger account {elsewhere.id} (Cash "
                                   "elsewhere) belongs to other books than this connection's"]

    cleared = cli("connections", "defaults", str(conn.id), "--payment-account", "none", "--json")
    assert json.loads(cleared.stdout)["payment_ledger_account_id"] is None
