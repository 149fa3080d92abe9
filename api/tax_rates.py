"""What a tax rate's components make: the effective rate an internal tax rate must agree with.

As Xero computes ``EffectiveRate`` (and ``sandboxes/xero/books.py`` after it): the simple components
add up, and the compound ones apply on top of the price plus the simple ones, so 5% and a compound
10% make 15.5%. Rates are in hundredths of a percent.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol


class Component(Protocol):
    rate: int
    is_compound: bool


def exact_effective_rate(components: Iterable[Component]) -> Decimal:
    parts = list(components)
    simple = sum((Decimal(c.rate) for c in parts if not c.is_compound), Decimal(0))
    compound = sum((Decimal(c.rate) for c in parts if c.is_compound), Decimal(0))
    return simple + compound + simple * compound / Decimal(10_000)


def effective_rate(components: Iterable[Component]) -> int:
    """The effective rate, rounded half up to a hundredth of a percent."""
    return int(exact_effective_rate(components).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def disagreement(effective: int, components: Iterable[Component]) -> str | None:
    """Why ``effective`` is not what ``components`` make (None when it is, rounded either way)."""
    parts = list(components)
    if not parts:
        return None
    exact = exact_effective_rate(parts)
    if abs(Decimal(effective) - exact) < 1:
        return None
    shown = exact.normalize() if exact != exact.to_integral_value() else exact.quantize(Decimal(1))
    return f"is {effective} but the components make {shown:f} (hundredths of a percent)"
