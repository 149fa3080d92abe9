"""Xero's objects in booksync's terms: statuses, amounts on the wire, the pull cursor, error fields."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from providers.errors import ProviderError
from providers.xero import mapping, models
from providers.xero.client import dumps, loads
from providers.xero.mapping import Cursor

T0 = dt.datetime(2026, 12, 1, 10, 0, 0, 250_000, tzinfo=dt.UTC)


def invoice(ident: str, stamp: dt.datetime, **fields: object) -> models.Invoice:
    return models.Invoice.model_validate({"InvoiceID": ident, "Type": "ACCPAY", "UpdatedDateUTC": stamp, **fields})


@pytest.mark.parametrize(("status", "paid", "due", "expected"), [
    ("DRAFT", 0, 10, "draft"), ("SUBMITTED", 0, 10, "draft"), ("AUTHORISED", 0, 10, "open"),
    ("AUTHORISED", 4, 6, "partially_paid"), ("PAID", 10, 0, "paid"), ("VOIDED", 0, 0, "void"),
    ("DELETED", 0, 0, "void"), ("SOMETHING", 0, 0, "unknown"),
])
def test_statuses(status: str, paid: int, due: int, expected: str) -> None:
    assert mapping.document_status(invoice("i", T0, Status=status, AmountPaid=paid, AmountDue=due)) == expected


def test_amounts_go_out_and_come_back_exactly() -> None:
    assert dumps({"UnitAmount": Decimal("0.10"), "Quantity": Decimal("3"), "n": [Decimal("-1E+2")]}) == \
        b'{"Quantity":3,"UnitAmount":0.10,"n":[-100]}'
    answer = loads(b'{"Total": 0.30000000000000004, "SubTotal": 296.28}', what="test")
    assert answer == {"Total": Decimal("0.30000000000000004"), "SubTotal": Decimal("296.28")}
    with pytest.raises(ProviderError):
        mapping.minor(Decimal("1.005"), "GBP", what="a total")
    assert mapping.minor(Decimal("1.005"), "KWD", what="a total") == 1005


def test_xero_dates_are_read_in_both_forms() -> None:
    parsed = models.Invoice.model_validate({"Date": "/Date(1764547200000+0000)/", "UpdatedDateUTC":
                                            "/Date(1764583200250+0000)/", "DueDate": "2026-12-31T00:00:00"})
    assert parsed.Date == dt.date(2025, 12, 1) and parsed.DueDate == dt.date(2026, 12, 31)
    assert parsed.UpdatedDateUTC == dt.datetime(2025, 12, 1, 10, 0, 0, 250_000, tzinfo=dt.UTC)


def test_the_cursor_round_trips_and_refuses_what_it_did_not_write() -> None:
    cursor = Cursor(after=T0, seen=("a", "b"), since=T0, page=3, high=T0, high_ids=("a",), running=True)
    assert Cursor.decode(cursor.encode()) == cursor
    finished = Cursor(after=T0, seen=("a",))
    assert Cursor.decode(finished.encode()) == finished
    for text in ("nope", '{"v": 2}', "[]"):
        with pytest.raises(ValueError):
            Cursor.decode(text)


def test_a_pull_starts_lag_seconds_before_the_mark() -> None:
    finished = Cursor(after=T0, seen=("a",))
    assert finished.started(0).keeps(invoice("a", T0)) is False
    assert finished.started(0).keeps(invoice("b", T0)) is True
    lagged = finished.started(30)
    assert lagged.since == T0 - dt.timedelta(seconds=30) and lagged.keeps(invoice("a", T0))
    assert lagged.high == T0, "the mark never goes back"


def test_full_pages_move_the_header_up_or_turn_the_page_within_one_second() -> None:
    start = Cursor().started(0)
    page = [invoice("a", T0), invoice("b", T0)]
    moved = start.advanced(page, full=True)
    assert (moved.since, moved.page, moved.after, moved.seen) == (T0, 1, T0, ("a", "b"))
    same_second = moved.advanced([invoice("a", T0), invoice("b", T0)], full=True)
    assert same_second.page == 2 and same_second.since == T0
    later = T0 + dt.timedelta(seconds=2)
    done = same_second.advanced([invoice("c", T0), invoice("d", later)], full=False)
    assert not done.running and done.after == later and done.seen == ("d",)


def test_a_payments_reference_keeps_the_platforms_first_and_one_marker_last() -> None:
    key = "0123456789abcdef0123456789abcdef"
    assert mapping.payment_reference("BACS 0042", key) == f"BACS 0042 [booksync:{key}]"
    assert mapping.payment_reference(None, key) == f"[booksync:{key}]"
    again = mapping.payment_reference(f"BACS 0042 [booksync:{'f' * 32}]", key)
    assert mapping.payment_keys(again) == {key}, "an old marker does not stay beside the new one"
    long = mapping.payment_reference("x" * 400, key)
    assert len(long) == mapping.PAYMENT_REFERENCE_MAX and long.endswith(f"… [booksync:{key}]")
    assert mapping.payment_keys(long) == {key} and mapping.payment_keys("Remittance 4471") == set()


def test_an_item_code_is_made_of_the_key_and_fits_xero() -> None:
    code = mapping.item_code("some key")
    assert code == mapping.item_code("some key") != mapping.item_code("another key")
    assert code.startswith("booksync-") and len(code) == mapping.ITEM_CODE_MAX
