"""The bench runner's figures: ratios always read "closer to the limit is higher", and the table says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.__main__ import README_END, README_START, markdown
from bench.report import FIGURES_FILE_ENV, Figure, emit


def test_a_throughput_ratio_is_value_over_baseline_and_a_latency_ratio_baseline_over_value() -> None:
    throughput = Figure("pull", "docs", 800, "docs/s", baseline=1000, target=">= 0.8x", target_value=0.8)
    latency = Figure("api", "page", 40, "ms", better="lower", baseline=20, target=">= 0.5x", target_value=0.5)
    assert throughput.ratio == 0.8 and throughput.met is True
    assert latency.ratio == 0.5 and latency.met is True
    assert Figure("api", "page", 41, "ms", better="lower", baseline=20, target_value=0.5).met is False


def test_a_value_target_holds_the_value_itself() -> None:
    assert Figure("fan-out", "100k", 7.5, "s", better="lower", target_value=10, target_on="value").met is True
    assert Figure("fan-out", "100k", 12, "s", better="lower", target_value=10, target_on="value").met is False
    assert Figure("x", "no target", 1, "s").met is None


def test_emitted_figures_reach_the_runner_and_its_table(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    figures_file = tmp_path / "figures.jsonl"
    monkeypatch.setenv(FIGURES_FILE_ENV, str(figures_file))
    emit(Figure("pull", "100,000 documents stored", 20_000, "docs/s", baseline=25_000, baseline_name="raw COPY",
                target=">= 0.8x", target_value=0.8))
    figures = [json.loads(line) for line in figures_file.read_text().splitlines()]
    results = {"finished_at": "2026-12-01 20:00 UTC", "quick": True, "figures": figures,
               "runs": [{"benchmark": "pull", "status": "ok"}, {"benchmark": "push", "status": "timed out after 9 s"}],
               "machine": {"commit": "abc1234", "cores": "2", "cpu": "AMD EPYC", "memory": "24 GiB",
                           "python": "3.11.7", "postgresql": "15.20"}}
    table = markdown(results)
    assert "| pull | 100,000 documents stored | 20,000 docs/s | 25,000 docs/s — raw COPY | 0.80× | >= 0.8x | yes |" in table
    assert "2 cores of AMD EPYC" in table and "--quick" in table
    assert "Did not finish: push timed out after 9 s" in table


def test_the_runner_lists_its_benchmarks_and_the_readme_has_a_place_for_the_table() -> None:
    listed = subprocess.run([sys.executable, "-m", "bench", "--list"], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2]).stdout
    for name in ("fanout", "pull", "push", "saturation", "tasks", "api", "webhooks"):
        assert f"\n{name} " in f"\n{listed}"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert README_START in readme and README_END in readme
