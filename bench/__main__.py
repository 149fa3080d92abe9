"""Run every benchmark in turn: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("bench.pull_bench", "bench.fanout_bench", "bench.api_list_bench")

if __name__ == "__main__":
    for module in BENCHMARKS:
        print(f"== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module], check=True)
