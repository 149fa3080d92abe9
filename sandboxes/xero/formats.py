"""Xero's wire formats: ``/Date(ms+zzzz)/`` dates, the dates Xero accepts, and money rounded per currency."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?)?$")

# ISO 4217 minor units for the currencies whose exponent is not 2 (Xero rounds amounts to these).
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "ISK": 0, "CLP": 0, "XAF": 0, "XOF": 0, "XPF": 0, "UGX": 0,
              "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3}


def currency_exponent(code: str) -> int:
    return _EXPONENTS.get(code.upper(), 2)


def round_money(value: Decimal, currency: str) -> Decimal:
    """Half away from zero to the currency's minor unit, as Xero rounds line and tax amounts."""
    return value.quantize(Decimal(1).scaleb(-currency_exponent(currency)), rounding=ROUND_HALF_UP)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def ms_datetime(epoch_milliseconds: int) -> str:
    """Xero's JSON timestamp, e.g. ``/Date(1573755038314+0000)/`` (``UpdatedDateUTC``)."""
    return f"/Date({epoch_milliseconds}+0000)/"


def ms_date(day: dt.date) -> str:
    """A calendar date in Xero's JSON form: midnight UTC of that day."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return ms_datetime(epoch_ms(midnight))


def parse_xero_date(value: str) -> dt.date | None:
    """A date as Xero accepts one in a request (``2024-01-31``, ``2024-01-31T00:00:00``, ``/Date(ms)/``)."""
    match = _MS_DATE.match(value)
    if match:
        try:
            return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, dt.UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    match = _ISO_DATE.match(value)
    if not match:
        return None
    try:
        parts = [int(part) for part in match.groups() if part is not None]
        return dt.datetime(*parts).date()  # type: ignore[arg-type]
    except ValueError:
        return None


def is_xero_date(value: str) -> bool:
    return parse_xero_date(value) is not None


def is_xero_datetime(value: str) -> bool:
    return parse_xero_date(value) is not None


def parse_timestamp(value: str) -> dt.datetime:
    """An RFC 3339 timestamp (``If-Modified-Since`` per Xero's definition), as an aware UTC datetime."""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def decimal_of(value: object) -> Decimal:
    """A JSON number as an exact Decimal (bodies are parsed with ``parse_float=Decimal``)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def json_number(value: Decimal) -> float:
    """A Decimal for ``json.dumps``: a float prints its shortest round-trip form, so 12.30 is sent as 12.3
    and reads back as exactly Decimal("12.3")."""
    return float(value)
