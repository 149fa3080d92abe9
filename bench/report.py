"""Figures a benchmark reports, collected by ``python -m bench`` into ``bench/results.json`` and a table.

A benchmark module calls :func:`emit` with its figures once it has measured them. Run alone it prints
them; run by ``python -m bench`` it also appends them, one JSON object a line, to the file named by
``BOOKSYNC_BENCH_FIGURES``, which the runner reads back.

Each figure is compared with a baseline measured *in the same run* (the fastest raw way to do the same
work), because absolute times on shared machines drift and ratios do not.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Literal

FIGURES_FILE_ENV = "BOOKSYNC_BENCH_FIGURES"

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Figure:
    """One measured figure, its same-run baseline, and the target it is held to.

    ``ratio`` is ``value / baseline`` when ``better`` is "higher" (throughput: 1.0 means as fast as the
    baseline) and ``baseline / value`` when it is "lower" (latency), so a ratio is always "how close to the
    limit": higher is better in both cases. ``target`` is met when the ratio (or, with no baseline, the
    value) is on the right side of ``target_value``.
    """

    benchmark: str
    name: str
    value: float
    unit: str
    better: Better = "higher"
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    target_value: float | None = None
    target_on: Literal["ratio", "value"] = "ratio"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.value or not self.baseline:
            return None
        return self.value / self.baseline if self.better == "higher" else self.baseline / self.value

    @property
    def met(self) -> bool | None:
        if self.target_value is None:
            return None
        measured = self.ratio if self.target_on == "ratio" else self.value
        if measured is None:
            return None
        if self.target_on == "ratio" or self.better == "higher":
            return measured >= self.target_value
        return measured <= self.target_value

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def emit(*figures: Figure) -> None:
    """Print ``figures`` and, under ``python -m bench``, hand them to the runner."""
    for figure in figures:
        ratio = f" ({figure.ratio:.2f}x {figure.baseline_name})" if figure.ratio is not None else ""
        verdict = {True: " [target met]", False: " [target NOT met]", None: ""}[figure.met]
        print(f"{figure.benchmark} | {figure.name}: {format_value(figure.value)} {figure.unit}{ratio}"
              f"{' target ' + figure.target if figure.target else ''}{verdict}", flush=True)
    path = os.environ.get(FIGURES_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            for figure in figures:
                out.write(json.dumps(figure.as_dict()) + "\n")


def format_value(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
