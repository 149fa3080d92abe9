"""Run the benchmarks and write ``bench/results.json`` and ``bench/results.md``: ``python -m bench`` (``make bench``).

Each benchmark runs in its own process (memory figures stay its own) with its same-run baseline, and
hands its figures back through ``bench.report``. The table puts each figure beside its baseline, the
ratio and the target, under a line saying which machine measured them.

    python -m bench                  # every benchmark at its full size
    python -m bench --quick          # every benchmark at a small size (under 10 minutes on 2 cores)
    python -m bench --only pull push # some of them (names as --list prints)

PostgreSQL (BOOKSYNC_BENCH_POSTGRES_URL, default the local server's ``postgres`` database, in which each
benchmark makes and drops its own) and Redis (127.0.0.1:6379) must be running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.report import FIGURES_FILE_ENV, format_value

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    measures: str


BENCHMARKS = (
    Benchmark("fanout", "bench.fanout_bench", "beat's fan-out of due connections onto Redis"),
    Benchmark("pull", "bench.pull_bench", "documents a pull stores per second"),
    Benchmark("push", "bench.push_bench", "invoices pushed to a real Tryton"),
    Benchmark("saturation", "bench.saturation_bench", "the local Xero and QuickBooks pushed at their rate limits"),
    Benchmark("tasks", "bench.task_throughput_bench", "sync_connection tasks a second with nothing to do"),
    Benchmark("api", "bench.api_list_bench", "the sync log's list and an intake PUT under load"),
    Benchmark("write-latency", "bench.write_latency_bench", "API writes while a sync pushes through a slow provider"),
    Benchmark("webhooks", "bench.webhooks_bench", "webhook deliveries a second and their delay"),
)


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count() or "?"), "memory": memory,
            "python": platform.python_version(), "postgresql": _server_version(), "os": platform.platform(),
            "commit": _git("rev-parse", "--short", "HEAD")}


def _server_version() -> str:
    try:
        from sqlalchemy import create_engine, text

        from bench.support import ADMIN_URL

        engine = create_engine(ADMIN_URL)
        with engine.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar())
        engine.dispose()
        return version
    except Exception as exc:  # noqa: BLE001 -- the machine line is best effort; the benchmarks will say what is wrong
        return f"unavailable ({type(exc).__name__})"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run(benchmark: Benchmark, quick: bool, figures_file: Path, timeout: float) -> dict[str, object]:
    command = [sys.executable, "-m", benchmark.module, *(["--quick"] if quick else [])]
    print(f"\n== {benchmark.name}: {benchmark.measures}  ({' '.join(command[1:])})", flush=True)
    started = time.monotonic()
    env = {**os.environ, FIGURES_FILE_ENV: str(figures_file), "PYTHONUNBUFFERED": "1"}
    try:
        completed = subprocess.run(command, env=env, timeout=timeout, cwd=HERE.parent)
        status = "ok" if completed.returncode == 0 else f"failed (exit {completed.returncode})"
    except subprocess.TimeoutExpired:
        status = f"timed out after {timeout:.0f} s"
    seconds = time.monotonic() - started
    print(f"== {benchmark.name}: {status} in {seconds:.0f} s", flush=True)
    return {"benchmark": benchmark.name, "status": status, "seconds": round(seconds, 1)}


def markdown(results: dict[str, object]) -> str:
    info = results["machine"]
    assert isinstance(info, dict)
    lines = [
        f"Measured {results['finished_at']} with `python -m bench{' --quick' if results['quick'] else ''}` "
        f"(commit {info['commit']}) on {info['cores']} cores of {info['cpu']}, {info['memory']}, "
        f"Python {info['python']}, PostgreSQL {info['postgresql']}. Ratios compare with a baseline measured in "
        "the same run (higher is closer to the limit)."
        + (f" Since then: {results['merged_note']}." if results.get("merged_note") else ""),
        "",
        "| benchmark | figure | value | baseline (same run) | ratio | target | met |",
        "|---|---|---:|---|---:|---|:---:|",
    ]
    for figure in results["figures"]:  # type: ignore[attr-defined]
        baseline = (f"{format_value(figure['baseline'])} {figure['unit']} — {figure['baseline_name']}"
                    if figure["baseline"] is not None else "")
        ratio = f"{figure['ratio']:.2f}×" if figure["ratio"] is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[figure["met"]]
        name = figure["name"] + (f" ({figure['note']})" if figure["note"] else "")
        lines.append(f"| {figure['benchmark']} | {name} | {format_value(figure['value'])} {figure['unit']} | "
                     f"{baseline} | {ratio} | {figure['target']} | {met} |")
    failed = [run for run in results["runs"] if run["status"] != "ok"]  # type: ignore[attr-defined]
    if failed:
        lines += ["", "Did not finish: " + "; ".join(f"{run['benchmark']} {run['status']}" for run in failed)]
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- bench:table -->", "<!-- /bench:table -->"


def update_readme(table: str) -> None:
    readme = HERE.parent / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise SystemExit(f"README.md has no {README_START} ... {README_END} section to put the table in")
    before, rest = text.split(README_START, 1)
    after = rest.split(README_END, 1)[1]
    readme.write_text(f"{before}{README_START}\n{table}{README_END}{after}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     epilog="\n".join(f"  {b.name:<14} {b.measures}" for b in BENCHMARKS),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run in under 10 minutes")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[b.name for b in BENCHMARKS],
                        help="run only these benchmarks")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one benchmark may take (default 900)")
    parser.add_argument("--output", type=Path, default=HERE, help="where results.json and results.md go")
    parser.add_argument("--update-readme", action="store_true",
                        help="put the table in README.md (between its bench:table markers)")
    args = parser.parse_args()
    if args.list:
        for benchmark in BENCHMARKS:
            print(f"{benchmark.name:<14} {benchmark.module:<30} {benchmark.measures}")
        return 0
    chosen = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    started = time.monotonic()
    runs: list[dict[str, object]] = []
    figures: list[dict[str, object]] = []
    finished_at, merged_note = "", ""
    with tempfile.TemporaryDirectory(prefix="booksync-bench-") as scratch:
        for benchmark in chosen:
            figures_file = Path(scratch) / f"{benchmark.name}.jsonl"
            figures_file.touch()
            runs.append(run(benchmark, args.quick, figures_file, args.timeout))
            figures += [{**json.loads(line), "run": benchmark.name}
                        for line in figures_file.read_text().splitlines() if line.strip()]
    finished_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    previous = args.output / "results.json"
    if args.only and previous.exists():  # the other benchmarks keep their last figures
        earlier = json.loads(previous.read_text())
        if earlier.get("quick") == args.quick:
            rerun = f"{', '.join(args.only)} re-run alone on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
            merged_note = f"{earlier.get('merged_note', '')}; {rerun}".lstrip("; ")
            finished_at = earlier["finished_at"]
            kept = [b.name for b in BENCHMARKS if b.name not in args.only]
            runs = [r for r in earlier["runs"] if r["benchmark"] in kept] + runs
            figures = [f for f in earlier["figures"] if f.get("run") in kept] + figures
            order = {b.name: index for index, b in enumerate(BENCHMARKS)}
            runs.sort(key=lambda r: order[str(r["benchmark"])])
            figures.sort(key=lambda f: order.get(str(f.get("run")), len(order)))
    results: dict[str, object] = {
        "finished_at": finished_at, "merged_note": merged_note, "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1), "machine": machine(), "runs": runs, "figures": figures,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.output / "results.md").write_text(table)
    if args.update_readme:
        update_readme(table)
    print(f"\n{table}\nwritten: {args.output / 'results.json'}, {args.output / 'results.md'} "
          f"({results['seconds']:.0f} s in all)")
    return 0 if all(run["status"] == "ok" for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
