"""`booksync demo` (what `make demo` runs), as a user runs it: a real sync on the embedded default."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

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
    # a paid bill, a paid invoice and a partly paid one, arriving in Tryton as payments
    assert "payment_record      3 done   0 error" in output
    assert "product             1 done   0 error" in output
    assert "145.50 USD of BILL-1002: Tryton payment #" in output
    assert "Tryton shows BILL-1002 paid, 0.00 USD due" in output
    assert "Tryton shows INV-2001 paid, 0.00 USD due" in output
    assert "Tryton shows INV-2002 partially_paid, 350.00 USD due" in output
    assert "booksync records --organization" in output
    assert not (tmp_path / ".booksync" / "demo" / "tryton" / "trytond.pid").exists(), "the demo stops Tryton"
    found = subprocess.run(["pgrep", "-f", "worker -c 2 --loglevel INFO -n demo@"], capture_output=True, text=True)
    ours = [pid for pid in found.stdout.split() if _cwd(pid) == tmp_path]  # other checkouts may run demos too
    assert ours == [], "the demo stops the worker it started"


def _cwd(pid: str) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


@pytest.mark.parametrize(("platform", "company", "system", "pid_file"), [
    ("quickbooks_online", "Acme Books (QuickBooks)", "QuickBooks Online", "quickbooks/quickbooks.pid"),
    ("xero", "Acme Books (Xero)", "Xero", "xero/xero.pid"),
])
def test_the_demo_syncs_with_a_local_cloud_system_through_its_oauth_flow(
    tmp_path: Path, platform: str, company: str, system: str, pid_file: str
) -> None:
    """What ``make demo DEMO_ARGS="--platform <platform>"`` runs (make passes the arguments on)."""
    repository = Path(__file__).resolve().parents[2]
    planned = subprocess.run(["make", "--no-print-directory", "-n", "demo", f"DEMO_ARGS=--platform {platform}"],
                             cwd=repository, capture_output=True, text=True, timeout=60)
    assert planned.stdout.strip().endswith(f"booksync demo --platform {platform}"), planned.stdout
    result = subprocess.run(
        [str(VENV_BIN / "booksync"), "demo", "--platform", platform], cwd=tmp_path, capture_output=True,
        text=True, timeout=420, env=subprocess_env({"PATH": f"{VENV_BIN}:/usr/bin:/bin"}),
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr[-3000:]
    assert "POST /accounting-connections: pending_auth" in output
    assert f"the connection is connected: {company}" in output
    assert f"sync of Acme Books Ltd with {system} done" in output
    assert "bill                2 done   1 error" in output
    assert "receivable          2 done   0 error" in output
    assert "vendor              1 done   0 error" in output
    assert f"{system}: tax rate 7% does not exist in the accounting system" in output
    assert not (tmp_path / ".booksync" / "demo" / pid_file).exists(), "the demo stops it"
    found = subprocess.run(["pgrep", "-f", "worker -c 2 --loglevel INFO -n demo@"], capture_output=True, text=True)
    assert [pid for pid in found.stdout.split() if _cwd(pid) == tmp_path] == [], "the demo stops its worker"
    api = subprocess.run(["pgrep", "-f", "booksync api --port"], capture_output=True, text=True)
    assert [pid for pid in api.stdout.split() if _cwd(pid) == tmp_path] == [], "and the API it started"
