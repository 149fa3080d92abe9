"""``sync --wait``, ``push --wait``, ``disconnect --wait`` and the plain Celery way, against one real worker.

The outcomes a worker reaches without a provider (skipped, busy, a push refused because the
connection is deauthorized) and a real sync and push with a Tryton server, through the CLI's exit
status and output.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import Cli, connection, organization, synced_record
from tests.conftest_tryton import tryton_sandbox, tryton_template  # noqa: F401
from tests.support.processes import PROJECT_ROOT, VENV_BIN, subprocess_env

pytestmark = pytest.mark.slow


def test_sync_wait_prints_the_outcome_and_exits_0_when_the_sync_ends_well(cli: Cli, cli_worker: Path) -> None:
    org = organization()
    conn = connection(org, status="pending_auth")
    result = cli("sync", str(conn.id), "--wait", "--timeout", "60")
    assert result.status == 0, (result.stderr, cli_worker.read_text()[-3000:])
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert fields["status"].strip() == "skipped"
    assert fields["message"].strip() == "connection is pending_auth, not connected"
    assert fields["connection"].strip() == str(conn.id)
    assert fields["organization"].strip() == str(org.id)
    assert fields["trigger"].strip() == "manual"
    assert "waiting for sync task" in result.stderr

    as_json = json.loads(cli("sync", str(conn.id), "--wait", "--json").stdout)
    assert as_json["state"] == "SUCCESS"
    assert as_json["result"]["status"] == "skipped" and as_json["result"]["connection_id"] == str(conn.id)


def test_sync_wait_exits_1_when_another_sync_holds_the_connection(cli: Cli, cli_worker: Path) -> None:
    from models import utcnow

    held_until = utcnow() + timedelta(minutes=10)
    conn = connection(organization(), lease_holder="another-worker:1", lease_expires_at=held_until)
    result = cli("sync", str(conn.id), "--wait", "--timeout", "60")
    assert result.status == 1, (result.stdout, result.stderr)
    assert "busy" in result.stdout
    assert "another sync of this connection is running" in result.stdout


def test_push_wait_exits_1_and_says_why_when_the_record_is_not_pushed(cli: Cli, cli_worker: Path) -> None:
    conn = connection(organization(), status="deauthorized")
    record = synced_record(conn, sync_status="error", errors={"message": "tax rate 20% does not exist"})
    result = cli("push", str(record.id), "--wait", "--timeout", "60")
    assert result.status == 1, (result.stdout, result.stderr)
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert fields["synced record"].strip() == str(record.id)
    assert fields["error"].strip().startswith("not pushed: the connection is deauthorized; connect the organization")


def test_disconnect_wait_follows_the_revocation_to_the_end(cli: Cli, cli_worker: Path) -> None:
    from models import AccountingConnection, session_scope

    conn = connection(organization(), credentials={"username": "admin", "password": "not-a-real-password"})
    result = cli("disconnect", str(conn.id), "--wait", "--timeout", "60")
    assert result.status == 0, (result.stdout, result.stderr)
    assert result.stdout.strip() == f"connection {conn.id} is disconnected"
    with session_scope() as session:
        stored = session.get(AccountingConnection, conn.id)
        assert (stored.status, stored.credentials) == ("disconnected", None)


def test_the_plain_celery_way_runs_the_same_task(cli_env: dict[str, str], cli_worker: Path) -> None:
    conn = connection(organization(), status="deauthorized")
    call = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "worker", "call", "tasks.sync_connection",
         "--args", json.dumps([str(conn.id), "manual"])],
        env=subprocess_env(cli_env), capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
    )
    assert call.returncode == 0, call.stderr
    task_id = call.stdout.strip()
    result = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "worker", "result", task_id],
        env=subprocess_env(cli_env), capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "'status': 'skipped'" in result.stdout and str(conn.id) in result.stdout


def _books_on_tryton(sandbox: Any) -> tuple[Any, Any]:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from models import Counterpart, Payable, PayableLineItem, session_scope

    org = organization("Tryton Books")
    conn = connection(org, settings=sandbox.settings, credentials=sandbox.credentials, backfill=True,
                      connected_at=datetime.now(UTC))
    with session_scope() as session:
        vendor = Counterpart(organization_id=org.id, name="Ink Supplies", is_vendor=True)
        session.add(vendor)
        session.flush()
        bill = Payable(organization_id=org.id, counterpart_id=vendor.id, document_number="CLI-1", currency="USD",
                       subtotal=10_000, tax_amount=2_000, total_amount=12_000, status="waiting_to_be_paid",
                       issue_date=date.today(), eligible_at=datetime.now(UTC),
                       lines=[PayableLineItem(description="ink", quantity=Decimal(1), unit_price=10_000,
                                              total=10_000, tax_rate_value=2000)])
        session.add(bill)
    return conn, bill


def test_sync_and_push_wait_against_a_real_tryton(cli: Cli, cli_worker: Path, tryton_sandbox: Any) -> None:
    conn, bill = _books_on_tryton(tryton_sandbox)
    result = cli("sync", str(conn.id), "--wait", "--timeout", "120")
    assert result.status == 0, (result.stdout, result.stderr, cli_worker.read_text()[-3000:])
    head, _, table = result.stdout.partition("\n\n")
    fields = dict(line.split(":", 1) for line in head.splitlines())
    assert (fields["status"].strip(), fields["platform"].strip()) == ("done", "tryton")
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()}
    assert rows["OBJECT"] == ["TYPE", "PULLED", "PUSHED", "ERRORS"]
    assert rows["bill"][1:] == ["1", "0"]

    [record] = json.loads(cli("records", "--connection", str(conn.id), "--object-type", "bill", "--json").stdout)
    assert (record["object_id"], record["sync_status"]) == (str(bill.id), "done")
    pushed = cli("push", record["id"], "--wait", "--timeout", "120")
    assert pushed.status == 0, (pushed.stdout, pushed.stderr)
    assert dict(line.split(":", 1) for line in pushed.stdout.splitlines())["sync status"].strip() == "done"
