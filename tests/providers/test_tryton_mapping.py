"""Pure mapping: minor units, rates, account classes, and the pull cursor's keyset semantics.

The cursor is checked against a small in-memory evaluator of the Tryton domains it produces, so the
awkward cases (never-written records with an empty write_date, equal timestamps from one
transaction, records changed while a pull is paging) can be set up exactly.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from providers.tryton import mapping
from providers.tryton.mapping import Cursor


def test_minor_units_follow_the_iso_exponent_not_trytons_digits() -> None:
    assert mapping.to_minor(Decimal("144.00"), "USD") == 14400
    assert mapping.to_minor(Decimal("-12.50"), "EUR") == -1250
    assert mapping.to_minor(Decimal("1000"), "JPY", digits=2) == 1000
    assert mapping.to_minor(Decimal("1.234"), "KWD") == 1234
    assert mapping.to_minor(None, "USD") is None
    # more decimals than the currency has (a line's unrounded tax): half-even, as Tryton rounds
    assert mapping.to_minor(Decimal("99.955"), "USD") == 9996
    assert mapping.to_minor(Decimal("0.125"), "USD") == 12
    # a code ISO 4217 does not know keeps Tryton's own digits
    assert mapping.to_minor(Decimal("1.5"), "XBT", digits=3) == 1500


@pytest.mark.parametrize(
    ("state", "amount_to_pay", "status", "due"),
    [
        ("draft", "144.00", "draft", 14400),
        ("validated", "144.00", "draft", 14400),
        ("posted", "144.00", "open", 14400),
        ("posted", "94.00", "partially_paid", 9400),  # a partial payment lowers amount_to_pay
        ("posted", "0", "paid", 0),  # paid in full, not reconciled (yet)
        ("paid", "0", "paid", 0),
        ("cancelled", "144.00", "void", 0),
    ],
)
def test_a_documents_status_and_amount_due_follow_its_payments(
    state: str, amount_to_pay: str, status: str, due: int
) -> None:
    record = {
        "id": 1, "type": "in", "state": state, "currency.": {"code": "USD", "digits": 2},
        "total_amount": Decimal("144.00"), "amount_to_pay": Decimal(amount_to_pay), "party": 3,
        "create_date": dt.datetime(2026, 1, 1), "write_date": None,
    }
    document = mapping.document(record, [], {})
    assert (document.status, document.amount_due) == (status, due)


def test_rates() -> None:
    assert mapping.rate_to_minor(Decimal("0.20")) == 2000
    assert mapping.rate_to_minor(Decimal("0.125")) == 1250
    assert mapping.format_rate(2000) == "20%"
    assert mapping.format_rate(1250) == "12.5%"
    assert mapping.format_rate(5) == "0.05%"


def test_composite_tax_rate_is_the_sum_of_its_children() -> None:
    parent = mapping.Tax(1, "GST+PST", "none", None, None, (2, 3), None, True, 1)
    gst = mapping.Tax(2, "GST", "percentage", Decimal("0.05"), 1, (), None, True, 1)
    pst = mapping.Tax(3, "PST", "percentage", Decimal("0.07"), 1, (), None, True, 2)
    taxes = {t.id: t for t in (parent, gst, pst)}
    rate = mapping.tax_rate(parent, taxes)
    assert rate.effective_tax_rate == 1200
    assert [(c.name, c.rate) for c in rate.components] == [("GST", 500), ("PST", 700)]


def test_tax_usability_follows_the_tax_group() -> None:
    sale_only = mapping.Tax(1, "Sales 10%", "percentage", Decimal("0.1"), None, (), "sale", True, 1)
    assert sale_only.usable_on("out") and not sale_only.usable_on("in")
    inactive = mapping.Tax(2, "Old", "percentage", Decimal("0.1"), None, (), None, False, 1)
    assert not inactive.usable_on("out")


@pytest.mark.parametrize(
    ("flags", "path", "expected"),
    [
        ({"revenue": True, "statement": "income"}, "Root\\Revenue", "Income"),
        ({"expense": True, "statement": "income"}, "Root\\Expenses", "Expense"),
        ({"statement": "income"}, "Root\\Non-operating section\\Other revenues or gains", "Income"),
        ({"statement": "income"}, "Root\\Non-operating section\\Finance costs", "Expense"),
        ({"statement": "balance", "receivable": True}, "Root\\Assets\\Accounts receivable", "Asset"),
        ({"statement": "balance"}, "Root\\Assets\\Current Assets\\Cash and Cash Equivalents", "Asset"),
        ({"statement": "balance", "payable": True}, "Root\\Liabilities\\Accounts payable", "Liability"),
        ({"statement": "balance"}, "Root\\Equity / capital\\Issued capital", "Equity"),
        ({"statement": "off-balance"}, "Root\\Off-Balance", "Unknown"),
    ],
)
def test_account_class(flags: dict[str, Any], path: str, expected: str) -> None:
    account = mapping.ledger_account(
        {"id": 1, "code": "1", "name": "n", "type.": {**flags, "rec_name": path, "name": path.rsplit("\\", 1)[-1]}}
    )
    assert account.type == expected


# -- cursor ---------------------------------------------------------------------------------------


def matches(record: dict[str, Any], domain: list[Any]) -> bool:
    if domain and domain[0] == "OR":
        return any(matches(record, clause if isinstance(clause, list) else [clause]) for clause in domain[1:])
    return all(
        matches(record, clause) if isinstance(clause, list) else leaf(record, clause) for clause in domain
    )


def leaf(record: dict[str, Any], clause: tuple[str, str, Any]) -> bool:
    field, operator, value = clause
    actual = record.get(field)
    if operator == "=":
        return actual == value
    if operator == "!=":
        return actual != value
    if actual is None or value is None:
        return False
    return {">": actual > value, "<": actual < value}[operator]


def order_key(record: dict[str, Any]) -> tuple[Any, ...]:
    written = record["write_date"]
    return (written is not None, written or dt.datetime.min, record["create_date"], record["id"])


class Table:
    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.clock = dt.datetime(2026, 1, 1)

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(microseconds=random.choice([1, 250]))
        return self.clock

    def create(self, count: int = 1) -> list[int]:
        stamp = self.tick()
        ids = []
        for _ in range(count):
            new = len(self.rows) + 1
            self.rows[new] = {"id": new, "create_date": stamp, "write_date": None}
            ids.append(new)
        return ids

    def write(self, *ids: int) -> None:
        stamp = self.tick()
        for i in ids:
            self.rows[i]["write_date"] = stamp

    def page(self, cursor: Cursor, size: int) -> tuple[list[dict[str, Any]], Cursor, bool]:
        domain = cursor.domain()
        found = sorted((dict(r) for r in self.rows.values() if matches(r, domain)), key=order_key)[: size + 1]
        finished = len(found) <= size
        found = found[:size]
        return found, cursor.advanced(found, finished=finished), finished


def pull(
    table: Table, text: str | None, size: int, between_pages: Any = None, churns: int = 3
) -> tuple[list[int], str | None]:
    """A pull; ``between_pages`` runs after each of the first ``churns`` pages (then writers stop)."""
    cursor = Cursor.decode(text)
    seen: list[int] = []
    for page in range(10_000):
        rows, cursor, finished = table.page(cursor, size)
        seen += [r["id"] for r in rows]
        if not rows or finished:
            return seen, cursor.encode() if (cursor.after or cursor.position) else text
        if between_pages and page < churns:
            between_pages()
        cursor = Cursor.decode(cursor.encode())
    raise AssertionError("the pull never finished")


def test_first_pull_reads_everything_in_a_stable_order() -> None:
    table = Table()
    table.create(5)
    table.write(2)
    table.create(3)
    seen, cursor = pull(table, None, 2)
    assert sorted(seen) == list(range(1, 9)) and len(seen) == 8
    assert seen[-1] == 2, "written records come after never-written ones"
    assert pull(table, cursor, 2)[0] == []


def test_incremental_pull_after_creates_and_writes_returns_only_those() -> None:
    table = Table()
    table.create(4)
    _, cursor = pull(table, None, 3)
    table.write(3)
    new = table.create(2)
    seen, cursor = pull(table, cursor, 1)
    assert sorted(seen) == sorted([3, *new])
    assert pull(table, cursor, 1)[0] == []


@pytest.mark.parametrize("seed", range(40))
def test_nothing_is_missed_while_records_change_during_a_pull(seed: int) -> None:
    random.seed(seed)
    table = Table()
    table.create(random.randint(1, 6))
    _, cursor = pull(table, None, 2)

    changed: set[int] = set()

    def churn() -> None:
        if random.random() < 0.5:
            changed.update(table.create(random.randint(1, 3)))
        else:
            victim = random.choice(list(table.rows))
            table.write(victim)
            changed.add(victim)

    for _ in range(random.randint(1, 4)):
        churn()
    seen, cursor = pull(table, cursor, random.randint(1, 3), between_pages=churn)
    assert changed <= set(seen)
    churn()
    last_change = set(changed)
    seen, cursor = pull(table, cursor, 2)
    assert set(seen) <= last_change
    assert pull(table, cursor, 2)[0] == []


def test_interrupted_pull_resumes_from_its_page_cursor() -> None:
    table = Table()
    table.create(3)
    table.write(1, 2)
    cursor = Cursor()
    rows, cursor, _ = table.page(cursor, 2)
    page_cursor = cursor.encode()
    late = table.create(1)
    resumed, final = pull(table, page_cursor, 2)
    assert set(late) <= set(resumed)
    assert {r["id"] for r in rows} | set(resumed) == {1, 2, 3, *late}
    assert pull(table, final, 2)[0] == []


def test_cursor_round_trips_and_rejects_garbage() -> None:
    cursor = Cursor(
        after=dt.datetime(2026, 1, 1, 1, 2, 3, 4),
        position=(None, dt.datetime(2026, 1, 1), 7),
        high=dt.datetime(2026, 1, 2),
    )
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode(None) == Cursor()
    for garbage in ("nope", '{"after": 3}', '{"pos": [1]}'):
        with pytest.raises(ValueError):
            Cursor.decode(garbage)


def test_a_change_stamped_before_the_cursor_but_committed_after_is_read_within_the_lag() -> None:
    """Tryton stamps ``write_date`` when the writing transaction starts: a slow transaction's change can
    become visible after a pull has already read later stamps."""
    table = Table()
    table.create(3)
    _, cursor_text = pull(table, None, 2)
    cursor = Cursor.decode(cursor_text)
    assert cursor.after is not None
    slow = 1
    table.rows[slow]["write_date"] = cursor.after - dt.timedelta(seconds=30)  # stamped 30 s before, visible now
    assert slow not in [r["id"] for r in table.page(cursor, 10)[0]], "without a lag window it is missed"
    rows = table.rows.values()
    lagged = [r["id"] for r in sorted(rows, key=order_key) if matches(r, cursor.domain(dt.timedelta(minutes=5)))]
    assert slow in lagged


def test_a_line_edit_or_a_party_rename_counts_as_a_change_of_the_invoice() -> None:
    table = Table()
    table.create(3)
    _, cursor_text = pull(table, None, 5)
    cursor = Cursor.decode(cursor_text)
    assert cursor.after is not None
    later = cursor.after + dt.timedelta(seconds=1)
    table.rows[1]["lines.write_date"] = later
    table.rows[2]["party.write_date"] = later
    found = {r["id"] for r in table.rows.values() if matches(r, cursor.domain())}
    assert found == {1, 2}


def test_the_cursor_moves_past_line_and_party_changes_it_read() -> None:
    cursor = Cursor(after=dt.datetime(2026, 1, 1))
    row = {"id": 1, "create_date": dt.datetime(2025, 1, 1), "write_date": None}
    advanced = cursor.advanced([row], finished=True, stamps=[dt.datetime(2026, 1, 2)])
    assert advanced.after == dt.datetime(2026, 1, 2)


def test_last_change_of_an_invoice_includes_its_lines_and_party() -> None:
    invoice = {"create_date": dt.datetime(2026, 1, 1), "write_date": None,
               "party.": {"create_date": dt.datetime(2025, 1, 1), "write_date": dt.datetime(2026, 3, 1)}}
    lines = [{"create_date": dt.datetime(2026, 1, 1), "write_date": dt.datetime(2026, 2, 1)}]
    assert mapping.last_change(invoice, lines) == dt.datetime(2026, 3, 1)
    assert mapping.last_change({**invoice, "party.": None}, lines) == dt.datetime(2026, 2, 1)
