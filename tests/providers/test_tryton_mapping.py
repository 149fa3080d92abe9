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


def test_minor_units() -> None:
    assert mapping.to_minor(Decimal("144.00"), 2) == 14400
    assert mapping.to_minor(Decimal("99.955"), 2) == 9996
    assert mapping.to_minor(Decimal("-12.50"), 2) == -1250
    assert mapping.to_minor(Decimal("5"), 0) == 5
    assert mapping.to_minor(Decimal("1.234"), 3) == 1234
    assert mapping.to_minor(None, 2) is None
    assert mapping.from_minor(12345, 2) == Decimal("123.45")


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
    actual = record[field]
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
