"""The local Xero's life cycle: start, status, stop by pid, the command line, a restart that keeps the books
and the OAuth state, tenants created on demand, app credentials."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sandboxes.xero.sandbox import REPO_ROOT, SandboxError, consent_location, sandbox_status, start_sandbox, stop_sandbox
from tests.sandboxes.xero.conftest import REDIRECT_URI, bill, connect

pytestmark = pytest.mark.slow


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandboxes.xero.sandbox", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_restart_keeps_the_books_and_the_tokens(tmp_path: Path) -> None:
    directory = tmp_path / "xero"
    info = start_sandbox(directory, tenants=2, client_id="MY-APP", client_secret="s3cret",
                         redirect_uris=[REDIRECT_URI])
    try:
        assert (info.client_id, info.client_secret, len(info.tenant_ids)) == ("MY-APP", "s3cret", 2)
        assert sandbox_status(directory) == info
        assert start_sandbox(directory).pid == info.pid
        saved = directory / "sandbox.json"
        assert json.loads(saved.read_text())["url"] == info.url
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        with pytest.raises(SandboxError, match="400"):  # only the listed redirect URI is allowed
            consent_location(info, redirect_uri="http://127.0.0.1:9999/elsewhere")
        app = connect(info)
        supplier = app.contact_id("PowerDirect")
        created = app.put("/Invoices", {"Invoices": [bill(supplier, Reference="survives")]}).json()["Invoices"][0]
    finally:
        assert stop_sandbox(directory)
    assert sandbox_status(directory) is None
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{info.url}/_sandbox/health")
    assert not stop_sandbox(directory)

    again = start_sandbox(directory, tenants=2)
    try:
        assert (again.client_id, again.client_secret, again.tenant_ids) == ("MY-APP", "s3cret", info.tenant_ids)
        app.info = again
        app.http = httpx.Client(base_url=again.url, timeout=30)
        kept = app.get(f"/Invoices/{created['InvoiceID']}").json()["Invoices"][0]  # the old access token too
        assert kept == created
        assert app.refresh().status_code == 200
    finally:
        stop_sandbox(directory)


def test_tenants_are_created_seeded_and_readable_raw(tmp_path: Path) -> None:
    directory = tmp_path / "xero"
    info = start_sandbox(directory, tenants=1)
    try:
        created = httpx.post(f"{info.url}/_sandbox/tenants",
                             json={"name": "Kiwi Ltd", "country": "NZ", "base_currency": "NZD"})
        assert created.status_code == 201
        tenant = created.json()
        assert (tenant["name"], tenant["country"], tenant["base_currency"]) == ("Kiwi Ltd", "NZ", "NZD")
        rates = {r["TaxType"]: r["EffectiveRate"] for r in info.state(tenant["tenant_id"], "taxrates")}
        assert rates["OUTPUT2"] == 15
        invoices = info.state(tenant["tenant_id"], "invoices")
        assert {i["Type"] for i in invoices} == {"ACCPAY", "ACCREC"} and len(invoices) == 6
        assert len(info.state(tenant["tenant_id"], "payments")) == 1
        assert httpx.post(f"{info.url}/_sandbox/tenants", json={"country": "XX"}).status_code == 400
        assert httpx.get(f"{info.url}/_sandbox/tenants/{tenant['tenant_id']}/nonsense").status_code == 404
        us = httpx.post(f"{info.url}/_sandbox/tenants", json={"name": "Yankee Inc", "country": "US"}).json()
        sales_tax = next(r for r in info.state(us["tenant_id"], "taxrates") if r["TaxType"] == "TAX001")
        assert sales_tax["EffectiveRate"] == 8.875 and len(sales_tax["TaxComponents"]) == 2
        assert info.stats()["requests_validated"] == 0  # the sandbox's own routes are not Xero calls
    finally:
        stop_sandbox(directory)


def test_the_command_line(tmp_path: Path) -> None:
    directory = tmp_path / "cli"
    assert cli("status", "--dir", str(directory), "--json").returncode == 3
    started = cli("start", "--dir", str(directory), "--tenants", "3", "--time-scale", "10", "--json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert len(info["tenant_ids"]) == 3 and info["time_scale"] == 10
        assert httpx.get(f"{info['url']}/_sandbox/stats").json()["limits"]["minute_seconds"] == 6
        status = cli("status", "--dir", str(directory))
        assert status.returncode == 0 and info["url"] in status.stdout and info["client_secret"] not in status.stdout
    finally:
        stopped = cli("stop", "--dir", str(directory), "--json")
    assert json.loads(stopped.stdout) == {"stopped": True}
    assert "RuntimeWarning" not in started.stderr
