"""The sandbox's life cycle: the start/status/stop command line, credentials and options kept across a
restart, and state (companies, objects, grants) that survives it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from sandboxes.quickbooks.sandbox import SandboxInfo, sandbox_status, start_sandbox, stop_sandbox
from tests.sandboxes.quickbooks.support import Api
from tests.support.processes import PROJECT_ROOT


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandboxes.quickbooks.sandbox", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_command_line_start_status_stop_and_a_restart_that_keeps_state(tmp_path: Path) -> None:
    directory = tmp_path / "qbo"
    started = cli("start", "--dir", str(directory), "--companies", "2", "--country", "US", "--country", "AU",
                  "--time-scale", "5", "--access-token-lifetime", "120", "--json")
    assert started.returncode == 0, started.stderr
    info: dict[str, Any] = json.loads(started.stdout)
    try:
        assert len(info["realm_ids"]) == 2 and info["time_scale"] == 5
        assert stat.S_IMODE(os.stat(directory / "sandbox.json").st_mode) == 0o600
        status = cli("status", "--dir", str(directory), "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["pid"] == info["pid"]
        sandbox = SandboxInfo(**{k: v for k, v in info.items() if k != "seconds"})
        assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["limits"]["window_seconds"] == 12
        api = Api(sandbox, sandbox.realm_ids[1])
        assert api.tokens["expires_in"] == 120
        invoice = api.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [
            {"Amount": 100, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"TaxCodeRef": {"value": "1"}}}]})
        assert invoice["TxnTaxDetail"]["TotalTax"] == 10 and invoice["CurrencyRef"]["value"] == "AUD"
        stopped = cli("stop", "--dir", str(directory), "--json")
        assert json.loads(stopped.stdout) == {"stopped": True}
        assert cli("status", "--dir", str(directory), "--json").returncode == 3
        assert sandbox_status(directory) is None

        again = start_sandbox(directory)
        assert (again.client_id, again.client_secret, again.realm_ids, again.time_scale) == (
            sandbox.client_id, sandbox.client_secret, sandbox.realm_ids, 5.0)
        assert again.pid != sandbox.pid
        api = Api(again, again.realm_ids[1], api.tokens)
        assert api.read("Invoice", invoice["Id"]) == invoice, "objects and the grant's tokens survive a restart"
        api.close()
    finally:
        stop_sandbox(directory)
    assert not stop_sandbox(directory)


def test_status_of_a_directory_with_no_sandbox(tmp_path: Path) -> None:
    result = cli("status", "--dir", str(tmp_path), "--json")
    assert result.returncode == 3 and json.loads(result.stdout) is None
    assert "RuntimeWarning" not in result.stderr


def test_an_answer_that_fails_the_schema_is_a_500_the_stats_report(tmp_path: Path) -> None:
    """A sandbox bug (here: a stored bill corrupted behind the server's back) never reaches a client as data."""
    import sqlite3

    directory = tmp_path / "broken"
    info = start_sandbox(directory, companies=1)
    try:
        api = Api(info, info.realm_ids[0])
        bill_id = api.query("SELECT * FROM Bill MAXRESULTS 1")["Bill"][0]["Id"]
        with sqlite3.connect(directory / "quickbooks.sqlite") as db:
            db.execute("UPDATE entities SET body = json_set(body, '$.TxnDate', 'the fifth') WHERE entity = 'Bill' AND id = ?",
                       (bill_id,))
        response = api.get(f"/bill/{bill_id}")
        assert response.status_code == 500
        assert response.json()["Fault"]["type"] == "SystemFault"
        stats = httpx.get(f"{info.url}/_sandbox/stats").json()
        assert stats["responses_invalid"] == 1 and "TxnDate" in stats["response_errors"][0]
        assert "failed Intuit's schema" in (directory / "quickbooks.log").read_text()
        api.close()
    finally:
        stop_sandbox(directory)
