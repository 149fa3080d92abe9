"""The sandbox's wall clock: real time plus an offset tests can move (``POST /_sandbox/clock``).

QuickBooks Online writes times in Pacific time with an offset (``2015-07-24T10:33:39-07:00``) and to the
second in ``MetaData``; the response's ``time`` carries milliseconds. Moving the clock lets a test pass an
hour (access token), 100 days (refresh token) or five years (the hard cap) without waiting; rate limits
run on the monotonic clock and are never moved.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

try:
    PACIFIC: dt.tzinfo = ZoneInfo("America/Los_Angeles")
except Exception:  # noqa: BLE001 - no tz database: UTC still round-trips
    PACIFIC = dt.UTC


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += seconds
        return self.now()

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.now(), PACIFIC).date()


def metadata_time(ts: float) -> str:
    """A ``MetaData`` time: Pacific, whole seconds, with offset."""
    return dt.datetime.fromtimestamp(int(ts), PACIFIC).isoformat()


def response_time(ts: float) -> str:
    """A response's ``time`` attribute: Pacific, milliseconds, with offset."""
    return dt.datetime.fromtimestamp(ts, PACIFIC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> float:
    """A dateTime or date literal as epoch seconds; one without an offset is Pacific, as QuickBooks reads it."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PACIFIC)
    return parsed.timestamp()
