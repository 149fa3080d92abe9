"""QuickBooks objects <-> booksync's types, without a server: statuses, markers, money, tax, ids, the cursor,
token expiries and the authorization warning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from providers.errors import ProviderError
from providers.oauth import TokenSet
from providers.quickbooks import app as qb_app
from providers.quickbooks import mapping, models
from providers.quickbooks.bodies import field_of
from providers.quickbooks.client import dumps, loads, quote
from providers.quickbooks.mapping import Cursor, PartyIds, TaxTable
from providers.types import DocumentKind


def txn(**fields: Any) -> models.Transaction:
    body = {"Id": "7", "SyncToken": "0", "MetaData": {"LastUpdatedTime": "2026-03-01T10:00:00-08:00"},
            "TotalAmt": 100, "Balance": 100, **fields}
    return models.Transaction.model_validate(body)


@pytest.mark.parametrize(("fields", "status"), [
    ({}, "open"),
    ({"Balance": 40}, "partially_paid"),
    ({"Balance": 0}, "paid"),
    ({"TotalAmt": 0, "Balance": 0, "PrivateNote": "Voided - rent"}, "void"),
    ({"TotalAmt": 0, "Balance": 0}, "open"),
    ({"Balance": None}, "open"),
])
def test_statuses_are_read_off_the_amounts(fields: dict[str, Any], status: str) -> None:
    assert mapping.status(txn(**fields)) == status


def test_the_key_marker_ends_the_note_and_survives_a_void() -> None:
    note = mapping.with_marker("Office move", "abc123", tag="0123456789ab")
    assert note == "Office move\n[booksync:abc123 0123456789ab]"
    assert mapping.keys_in("Voided - " + note) == {"abc123"}
    assert mapping.tag_in(note, "abc123") == "0123456789ab" and mapping.tag_in(note, "other") is None
    assert mapping.memo_of(note) == "Office move" and mapping.memo_of(mapping.key_marker("k")) is None
    rewritten = mapping.with_marker(note, "abc123", tag="ffffffffffff")
    assert rewritten.count("[booksync:") == 1, "a marker replaces the old one"
    long = mapping.with_marker("x" * 5000, "k")
    assert len(long) <= 4000 and long.endswith("[booksync:k]")


def test_line_amounts_are_quantity_times_price_in_the_currency_half_up() -> None:
    assert mapping.line_amount(Decimal("2"), Decimal("123.45"), "USD") == Decimal("246.90")
    assert mapping.line_amount(Decimal("0.333"), Decimal("10.00"), "USD") == Decimal("3.33")
    assert mapping.line_amount(Decimal("0.5"), Decimal("0.05"), "USD") == Decimal("0.03")
    assert mapping.line_amount(Decimal("3"), Decimal("7"), "JPY") == Decimal("21")
    assert mapping.minor(Decimal("12.3456"), "USD") == 1235 and mapping.minor(Decimal("1.005"), "KWD") == 1005


def test_json_amounts_go_and_come_exactly() -> None:
    body = dumps({"Amount": Decimal("0.10"), "Qty": Decimal("1.333333333333"), "TxnDate": dt.date(2026, 1, 2)})
    assert body == b'{"Amount":0.10,"Qty":1.333333333333,"TxnDate":"2026-01-02"}'
    assert loads(b'{"TotalAmt": 296.28}', what="x")["TotalAmt"] == Decimal("296.28")
    with pytest.raises(ProviderError, match="not JSON"):
        loads(b"<html>", what="GET Bill 1")
    assert quote("O'Brien \\ Sons") == "'O\\'Brien \\\\ Sons'"


def tax_table(us: bool = False) -> TaxTable:
    rates = {r["Id"]: models.TaxRate.model_validate(r) for r in (
        {"Id": "1", "Name": "GST QC", "RateValue": 5}, {"Id": "2", "Name": "QST", "RateValue": Decimal("9.975")},
        {"Id": "3", "Name": "State", "RateValue": Decimal("6.25")}, {"Id": "4", "Name": "County", "RateValue": 1},
        {"Id": "5", "Name": "Old QST", "RateValue": Decimal("8.5")},
    )}

    def code(code_id: str, name: str, sales: list[str], purchase: list[str], on_tax: str | None = None) -> models.TaxCode:
        def rate_list(ids: list[str]) -> dict[str, Any]:
            return {"TaxRateDetail": [{"TaxRateRef": {"value": i}, "TaxTypeApplicable": "TaxOnTax" if i == on_tax
                                       else "TaxOnAmount"} for i in ids]}
        return models.TaxCode.model_validate({"Id": code_id, "Name": name, "SalesTaxRateList": rate_list(sales),
                                              "PurchaseTaxRateList": rate_list(purchase)})

    codes = {c.Id: c for c in (
        code("TAX", "TAX", [], []), code("NON", "NON", [], []), code("10", "GST/QST", ["1", "2"], ["1", "2"]),
        code("11", "California", ["3", "4"], []), code("12", "Compound", ["1", "5"], [], on_tax="5"),
    )}
    return TaxTable(codes, rates, us=us)


def test_tax_codes_are_the_rates_and_their_lists_the_components() -> None:
    table = tax_table()
    assert [c.Id for c in table.listed()] == ["10", "11", "12"], "TAX and NON are not rates"
    quebec = table.tax_rate(table.codes["10"])
    assert quebec.effective_tax_rate == 1498 and [c.rate for c in quebec.components] == [500, 998]
    california = table.tax_rate(table.codes["11"])
    assert california.effective_tax_rate == 725 and california.code == "California"
    compound = table.tax_rate(table.codes["12"])
    assert compound.effective_tax_rate == 1393 and compound.components[1].is_compound  # 5 + 8.5 x 1.05
    assert table.value(table.codes["11"], purchase=True) == 0, "sales-only codes carry no purchase tax"


def test_pulled_line_tax_in_both_models() -> None:
    table = tax_table(us=True)
    us = txn(TxnTaxDetail={"TxnTaxCodeRef": {"value": "11"}, "TotalTax": 7.25}, Line=[
        {"Amount": 100, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"TaxCodeRef": {"value": "TAX"}}},
        {"Amount": 5, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"TaxCodeRef": {"value": "NON"}}},
    ])
    assert [mapping.line_tax(DocumentKind.RECEIVABLE, us, line, table) for line in us.Line] == [(725, "11"), (0, None)]
    assert mapping.line_tax(DocumentKind.PAYABLE, us, us.Line[0], table) == (None, None), "US bills carry no tax"
    table = tax_table()
    line = {"Amount": 100, "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {"TaxCodeRef": {"value": "10"}}}
    bill = txn(Line=[line])
    assert mapping.line_tax(DocumentKind.PAYABLE, bill, bill.Line[0], table) == (1498, "10")
    untaxed = txn(Line=[line], GlobalTaxCalculation="NotApplicable")
    assert mapping.line_tax(DocumentKind.PAYABLE, untaxed, untaxed.Line[0], table) == (None, None)


def test_party_ids_name_a_vendor_and_a_customer() -> None:
    both = PartyIds(vendor="12", customer="34")
    assert both.encode() == "vendor:12,customer:34" and PartyIds.decode(both.encode()) == both
    assert PartyIds.decode("12", plain="Vendor") == PartyIds(vendor="12")
    assert PartyIds.decode("12", plain="Customer").of("Customer") == "12"
    assert PartyIds.decode("nonsense:1").encode() == ""
    assert mapping.display_name("Acme", "Vendor", suffixed=True) == "Acme (vendor)"
    assert mapping.display_name("Acme", "Customer", suffixed=False) == "Acme"


def test_the_cursor_remembers_the_versions_read_in_its_last_second() -> None:
    first = Cursor().after([("1", "0", "2026-03-01T10:00:00-08:00"), ("2", "0", "2026-03-01T10:00:05-08:00"),
                            ("3", "1", "2026-03-01T18:00:05Z")])
    assert first.mark == "2026-03-01T18:00:05Z" and set(first.seen) == {("2", "0"), ("3", "1")}
    assert first.skips("2", "0", "2026-03-01T10:00:05-08:00"), "the same version in the same second"
    assert not first.skips("2", "1", "2026-03-01T10:00:05-08:00"), "changed again within the second"
    assert not first.skips("1", "0", "2026-03-01T10:00:00-08:00")
    again = first.after([("4", "0", "2026-03-01T10:00:05-08:00")])
    assert set(again.seen) == {("2", "0"), ("3", "1"), ("4", "0")}, "same second: the versions add up"
    assert Cursor.decode(again.encode()) == again
    with pytest.raises(ValueError, match="not a QuickBooks Online pull cursor"):
        Cursor.decode('{"v": 1, "mark": "yesterday"}')


def test_field_of_names_booksyncs_field() -> None:
    assert field_of("Bill.Line[1].AccountBasedExpenseLineDetail.AccountRef") == \
        "lines[1].ledger_account_id"
    assert field_of("Invoice.Line[0].SalesItemLineDetail.TaxCodeRef") == \
        "lines[0].tax_rate_value"
    assert field_of("Bill.VendorRef") == "counterpart_platform_id"
    assert field_of("DocNumber") == "document_number"
    assert field_of("") == "document"


NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_token_expiries_become_absolute_and_the_hard_cap_is_kept() -> None:
    answered = TokenSet("a", "r", NOW + dt.timedelta(hours=1),
                        extra={"x_refresh_token_expires_in": 8_640_000, "x_refresh_token_hard_expires_in": 86_400 * 20})
    token = qb_app.with_expiries(answered, now=NOW)
    assert token.refresh_expires_at == NOW + dt.timedelta(days=20), "the earlier of 100 days and the cap"
    assert token.extra[qb_app.HARD_EXPIRES_AT] == (NOW + dt.timedelta(days=20)).isoformat()
    later = qb_app.with_expiries(TokenSet("b", "s", NOW + dt.timedelta(hours=2),
                                          extra={"x_refresh_token_expires_in": 8_640_000}), now=NOW)
    kept = qb_app.carry_hard_expiry(later, token)
    assert kept.extra[qb_app.HARD_EXPIRES_AT] == token.extra[qb_app.HARD_EXPIRES_AT]
    assert kept.refresh_expires_at == NOW + dt.timedelta(days=20)


def test_the_authorization_warning_comes_under_the_days_left() -> None:
    def stored(days: float, *, hard: bool = True) -> dict[str, Any]:
        extra = {qb_app.HARD_EXPIRES_AT: (NOW + dt.timedelta(days=days)).isoformat()} if hard else {}
        rolling = NOW + dt.timedelta(days=days if not hard else 90)
        return TokenSet("a", "r", NOW, rolling, extra=extra).to_credentials().reveal()

    assert qb_app.authorization_warning(stored(31), days=30, now=NOW) is None
    warning = qb_app.authorization_warning(stored(29.5), days=30, now=NOW)
    assert warning is not None and "reconnect QuickBooks Online" in warning and "five years" in warning
    assert "29 days left" in warning and "2026-03-31" in warning
    rolling = qb_app.authorization_warning(stored(3, hard=False), days=30, now=NOW)
    assert rolling is not None and "100 days" in rolling
