"""Tax arithmetic: one rounded TaxLine per rate, tax-inclusive splits, and tax on tax."""

from __future__ import annotations

from decimal import Decimal

from sandboxes.quickbooks.tax import TaxComponent, TaxedLine, compute, money, split_inclusive

STATE = TaxComponent("1", "State", Decimal("6.25"))
COUNTY = TaxComponent("2", "County", Decimal("1"))
VAT = TaxComponent("3", "VAT", Decimal("20"))


def test_each_rate_taxes_the_sum_of_its_lines_and_rounds_once() -> None:
    result = compute([TaxedLine(Decimal("10.01"), (STATE, COUNTY)), TaxedLine(Decimal("10.01"), (STATE,))])
    amounts = {line["TaxLineDetail"]["TaxRateRef"]["value"]: line["Amount"] for line in result.tax_lines}
    assert amounts == {"1": 1.25, "2": 0.1}  # 20.02 x 6.25% = 1.25125; 10.01 x 1% = 0.1001
    assert result.total_tax == Decimal("1.35")
    assert result.tax_lines[0]["TaxLineDetail"]["NetAmountTaxable"] == 20.02


def test_half_up_rounding_and_inclusive_split() -> None:
    assert money("2.345") == Decimal("2.35")
    assert split_inclusive(Decimal("120"), (VAT,)) == Decimal("100.00")
    assert split_inclusive(Decimal("10"), (VAT,)) == Decimal("8.33")


def test_tax_on_tax_applies_to_the_net_plus_earlier_taxes() -> None:
    gst = TaxComponent("g", "GST", Decimal("5"), order=0)
    pst = TaxComponent("p", "PST", Decimal("10"), on_tax=True, order=1)
    result = compute([TaxedLine(Decimal("100"), (gst, pst))])
    assert [line["Amount"] for line in result.tax_lines] == [5, 10.5]
    assert result.total_tax == Decimal("15.50")
