"""`booksync demo` (what `make demo` runs), as a user runs it: a real sync on the embedded default."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.processes import VENV_BIN, subprocess_env


def test_the_demo_syncs_with_tryton_and_prints_a_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "booksync"), "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=420,
        env=subprocess_env({"PATH": f"{VENV_BIN}:/usr/bin:/bin"}),
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr[-3000:]
    assert "sync of Acme Books Ltd with Tryton done" in output
    assert "bill                2 done   1 error" in output
    assert "receivable          2 done   0 error" in output
    assert "tax rate 7% does not exist in the accounting system" in output
    assert "booksync records --organization" in output
    assert not (tmp_path / ".booksync" / "demo" / "tryton" / "trytond.pid").exists(), "the demo stops Tryton"
    leftover = subprocess.run(["pgrep", "-f", "worker -c 2 --loglevel INFO -n demo@"], capture_output=True, text=True)
    assert leftover.stdout == "", "the demo stops the worker it started"
