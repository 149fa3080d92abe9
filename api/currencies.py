"""ISO 4217 currencies in circulation and their minor-unit exponents (amounts are integers in minor units)."""

from __future__ import annotations

from providers import money

#: The circulating ISO 4217 currencies a document may be in (not funds, precious metals or testing codes,
#: which ISO 4217 also lists; ANG and BGN left it in 2025 and 2026). Their minor units come from ISO 4217
#: itself (``providers.money``).
CIRCULATING = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD "
    "CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ "
    "GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR "
    "LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN "
    "PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB "
    "TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"
).split()

MINOR_UNIT_EXPONENTS: dict[str, int] = {code: money.exponent(code) for code in CIRCULATING}

CURRENCY_CODES: tuple[str, ...] = tuple(sorted(MINOR_UNIT_EXPONENTS))


def minor_unit_exponent(code: str) -> int:
    """Raise KeyError for a code that is not a circulating ISO 4217 currency."""
    return MINOR_UNIT_EXPONENTS[code]


#: Circulating codes the reference's ``CurrencyEnum`` does not list (it predates or leaves them out).
NOT_IN_REFERENCE = frozenset("CUP ERN IRR KPW MRU SDG STN SYP VES XCG ZWG".split())
REFERENCE_CURRENCY_CODES: tuple[str, ...] = tuple(code for code in CURRENCY_CODES if code not in NOT_IN_REFERENCE)
