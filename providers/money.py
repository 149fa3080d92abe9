"""Money at the provider boundary: ISO 4217 exponents, exact conversions, and how booksync rounds.

booksync holds amounts as integers in minor units of the currency, where a currency's minor unit is
the one ISO 4217 gives it (``iso4217``: JPY 0 decimals, EUR 2, KWD 3), never the digits an accounting
system happens to be configured with. Converting between minor units and the decimal amounts
providers speak is exact in both directions; a provider amount with more decimals than the currency
has is refused (``InexactAmount``), not rounded.

booksync itself never rounds an amount it sends: it sends quantities and unit prices exactly, lets
the accounting system compute line amounts, tax and totals with its own rounding, and checks the
result against the platform's figures (``tasks.engine.push``). Where a provider reports an amount with
more precision than the currency (tax on a line, before the document rounds it), ``round_minor``
rounds half-even, as Tryton and Xero do, and the difference to a half-up rounding is visible in the
totals check rather than absorbed.
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import iso4217


class UnknownCurrency(ValueError):
    """Not an active ISO 4217 currency code."""


class InexactAmount(ValueError):
    """An amount has more decimals than its currency's minor unit."""


#: ISO 4217 codes without a minor unit ("N.A.": gold, SDRs...) have no amounts booksync can hold.
_NOT_APPLICABLE = "N.A."


@functools.cache
def exponent(currency: str) -> int:
    """The ISO 4217 exponent of ``currency`` (``"JPY"`` → 0, ``"EUR"`` → 2, ``"KWD"`` → 3)."""
    code = currency.upper() if isinstance(currency, str) else ""
    entry = iso4217.raw_table.get(code) if len(code) == 3 else None
    minor = entry.get("CcyMnrUnts") if entry else None
    if minor is None or minor == _NOT_APPLICABLE:
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency code with a minor unit")
    return int(minor)


def is_currency(currency: str) -> bool:
    try:
        exponent(currency)
    except UnknownCurrency:
        return False
    return True


def to_decimal(minor: int, currency: str) -> Decimal:
    """``14400`` USD → ``Decimal("144.00")``; ``1000`` JPY → ``Decimal("1000")``."""
    places = exponent(currency)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def to_minor(amount: Decimal | int | str, currency: str) -> int:
    """``Decimal("1.234")`` KWD → ``1234``. Raises InexactAmount when the amount has more decimals."""
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise InexactAmount(f"{amount!r} is not a decimal amount") from None
    if not value.is_finite():
        raise InexactAmount(f"{amount!r} is not a finite amount")
    scaled = value.scaleb(exponent(currency))
    whole = scaled.to_integral_value()
    if whole != scaled:
        raise InexactAmount(f"{value} {currency} has more decimals than {currency}'s {exponent(currency)}")
    return int(whole)


def round_minor(amount: Decimal, currency: str) -> int:
    """Minor units of ``amount`` rounded half-even (banker's rounding) to the currency's exponent."""
    return int(amount.scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def format_amount(minor: int, currency: str) -> str:
    """For messages a person reads: ``14400`` USD → ``"144.00 USD"``."""
    return f"{to_decimal(minor, currency):,f} {currency}"
