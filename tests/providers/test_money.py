"""ISO 4217 exponents and exact conversions between minor units and the decimals providers speak."""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers import money


@pytest.mark.parametrize(("currency", "places"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4), ("isk", 0)])
def test_exponents_are_iso_4217s(currency: str, places: int) -> None:
    assert money.exponent(currency) == places


@pytest.mark.parametrize("code", ["XXX", "XAU", "ABC", "", "US"])
def test_codes_without_a_minor_unit_are_refused(code: str) -> None:
    with pytest.raises(money.UnknownCurrency):
        money.exponent(code)
    assert not money.is_currency(code)


def test_conversions_are_exact_both_ways() -> None:
    assert money.to_decimal(14400, "USD") == Decimal("144.00") and str(money.to_decimal(14400, "USD")) == "144.00"
    assert str(money.to_decimal(1000, "JPY")) == "1000"
    assert str(money.to_decimal(1234, "KWD")) == "1.234"
    assert money.to_minor(Decimal("1.234"), "KWD") == 1234
    assert money.to_minor("1000", "JPY") == 1000
    big = 9_223_372_036_854_775_807
    assert money.to_minor(money.to_decimal(big, "USD"), "USD") == big


@pytest.mark.parametrize(("amount", "currency"), [("1.005", "USD"), ("0.5", "JPY"), ("1.2345", "KWD"), ("NaN", "USD"), ("x", "USD")])
def test_amounts_with_more_decimals_than_the_currency_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(money.InexactAmount):
        money.to_minor(amount, currency)


def test_rounding_is_half_even_which_differs_from_half_up_on_ties() -> None:
    # 0.125 and 0.135: half-up gives 13 and 14, half-even 12 and 14
    assert money.round_minor(Decimal("0.125"), "USD") == 12
    assert money.round_minor(Decimal("0.135"), "USD") == 14
    assert money.round_minor(Decimal("2.5"), "JPY") == 2
    assert money.round_minor(Decimal("0.0005"), "KWD") == 0


def test_amounts_read_by_people() -> None:
    assert money.format_amount(123456, "USD") == "1,234.56 USD"
    assert money.format_amount(1000, "JPY") == "1,000 JPY"
    assert money.format_amount(-1234, "KWD") == "-1.234 KWD"
