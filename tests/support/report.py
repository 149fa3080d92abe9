"""Counts a test run reports at its end (the fault tally, bodies validated by the local Xero and
QuickBooks), summed over pytest-xdist's worker processes.

Each process adds to its own counts (``add``); at the end of its session it writes them to a folder
the controlling process made (``BOOKSYNC_TEST_REPORT_DIR``); the controlling process sums every file
and prints one line per report, formatted by the function registered for it (``line``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

FOLDER = "BOOKSYNC_TEST_REPORT_DIR"

_counts: dict[str, Counter[str]] = defaultdict(Counter)
_formats: dict[str, Callable[[Mapping[str, int]], str]] = {}


def add(report: str, **counts: int) -> None:
    _counts[report].update({name: int(value) for name, value in counts.items()})


def line(report: str) -> Callable[[Callable[[Mapping[str, int]], str]], Callable[[Mapping[str, int]], str]]:
    """Register how ``report``'s summed counts read as one line."""

    def register(format_: Callable[[Mapping[str, int]], str]) -> Callable[[Mapping[str, int]], str]:
        _formats[report] = format_
        return format_

    return register


def start() -> None:
    """In the controlling process, before any worker starts."""
    os.environ[FOLDER] = tempfile.mkdtemp(prefix="booksync-test-report-")


def save() -> None:
    folder = os.environ.get(FOLDER)
    if folder and _counts:
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps({k: dict(v) for k, v in _counts.items()}))


def lines() -> list[str]:
    folder = os.environ.get(FOLDER)
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for part in Path(folder).glob("*.json") if folder else ():
        for report, counts in json.loads(part.read_text()).items():
            totals[report].update(counts)
    return [_formats[report](counts) for report, counts in sorted(totals.items()) if report in _formats]
