"""Money and sales tax as QuickBooks Online computes them: two decimals, half up, tax per rate.

Two tax models, chosen per company when it is created (as QuickBooks does by the company's country):

- **US**: a line is taxable or not (``TaxCodeRef`` ``TAX`` / ``NON``); the transaction names one sales tax
  code (``TxnTaxDetail.TxnTaxCodeRef``, a combined code such as "California" whose ``SalesTaxRateList``
  holds state and county rates); each rate taxes the sum of the taxable lines.
- **global** (UK, AU, CA, ...): every line names its own ``TaxCode``; the code's ``SalesTaxRateList``
  (invoices) or ``PurchaseTaxRateList`` (bills) gives its rates. ``GlobalTaxCalculation`` says whether line
  amounts exclude tax (``TaxExcluded``, the default), include it (``TaxInclusive``: the line's gross is split
  into net ``Amount`` and tax) or carry none (``NotApplicable``).

Either way ``TxnTaxDetail`` gets one ``TaxLine`` per rate (``NetAmountTaxable``, ``TaxPercent``, the rounded
tax) and ``TotalTax`` is their sum. A ``TaxOnTax`` rate (Quebec's QST style) taxes the net plus the taxes of
lower ``TaxOrder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """A JSON number (or numeric string) as a Decimal rounded to cents, half up."""
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise ValueError(f"not an amount: {value!r}") from None


def exact(value: Any) -> Decimal:
    return Decimal(str(value))


def number(value: Decimal) -> float | int:
    """How the JSON API writes an amount: a plain number."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


@dataclass(frozen=True, slots=True)
class TaxComponent:
    rate_id: str
    name: str
    percent: Decimal
    on_tax: bool = False
    order: int = 0


@dataclass(frozen=True, slots=True)
class TaxedLine:
    net: Decimal
    components: tuple[TaxComponent, ...]


@dataclass
class TaxResult:
    tax_lines: list[dict[str, Any]]
    total_tax: Decimal


def split_inclusive(gross: Decimal, components: tuple[TaxComponent, ...]) -> Decimal:
    """The net part of a tax-inclusive amount."""
    factor = Decimal(1)
    simple = sum((c.percent for c in components if not c.on_tax), Decimal(0)) / 100
    factor += simple
    for component in components:
        if component.on_tax:
            factor += component.percent / 100 * (1 + simple)
    return (gross / factor).quantize(CENT, rounding=ROUND_HALF_UP)


def compute(lines: list[TaxedLine]) -> TaxResult:
    """One TaxLine per rate over all lines using it; each rounded once, as QuickBooks rounds per rate."""
    bases: dict[str, Decimal] = {}
    components: dict[str, TaxComponent] = {}
    for line in lines:
        simple_tax = Decimal(0)
        for component in sorted(line.components, key=lambda c: (c.on_tax, c.order)):
            components[component.rate_id] = component
            base = line.net + (simple_tax if component.on_tax else 0)
            bases[component.rate_id] = bases.get(component.rate_id, Decimal(0)) + base
            if not component.on_tax:
                simple_tax += line.net * component.percent / 100
    tax_lines: list[dict[str, Any]] = []
    total = Decimal(0)
    for rate_id, component in sorted(components.items(), key=lambda item: (item[1].on_tax, item[1].order, item[0])):
        amount = (bases[rate_id] * component.percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        total += amount
        tax_lines.append(
            {
                "Amount": number(amount),
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": rate_id, "name": component.name},
                    "PercentBased": True,
                    "TaxPercent": number(component.percent),
                    "NetAmountTaxable": number(bases[rate_id].quantize(CENT, rounding=ROUND_HALF_UP)),
                },
            }
        )
    return TaxResult(tax_lines, total)
