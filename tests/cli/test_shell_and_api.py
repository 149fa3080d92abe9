"""``shell`` (a Python shell with everything ready) and ``api`` (the HTTP API under uvicorn)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from tests.cli.support import Cli, connection, organization
from tests.support.processes import VENV_BIN, running, wait_for


def test_shell_command_has_the_app_tasks_models_and_a_session(cli: Cli) -> None:
    conn = connection(organization("Acme"))
    code = (
        "print(app.main, celery is app, tasks.sync_connection.name)\n"
        f"c = session.get(AccountingConnection, uuid.UUID('{conn.id}'))\n"
        "print(c.platform, c.status, session.scalar(select(func.count()).select_from(Organization)))\n"
        "c.status = 'deauthorized'\n"
        "session.commit()\n"
    )
    result = cli("shell", "-c", code)
    assert result.status == 0, result.stderr
    assert result.stdout.splitlines() == ["booksync True tasks.sync_connection", "tryton connected 1"]
    assert json.loads(cli("connections", "show", str(conn.id), "--json").stdout)["status"] == "deauthorized"


def test_shell_reads_python_from_its_input_like_an_interactive_session(cli: Cli) -> None:
    organization("Globex")
    result = cli("shell", input="print(session.scalars(select(Organization.name)).all())\n")
    assert result.status == 0, result.stderr
    assert "['Globex']" in result.stdout
    assert "booksync shell (postgresql+psycopg://" in result.stderr
    assert "session.commit() to save" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_api_serves_probes_and_metrics_on_the_configured_port(cli_env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    env = {**cli_env, "BOOKSYNC_API_PORT": str(port)}
    with running([str(VENV_BIN / "booksync"), "api"], env, tmp_path / "api.log"):
        base = f"http://127.0.0.1:{port}"
        health = wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2), timeout=60, what="booksync api to answer")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert (ready.status_code, ready.json()["checks"]) == (200, {"database": "ok", "broker": "ok"})
        metrics = httpx.get(f"{base}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert "booksync_database_up 1.0" in metrics.text
        assert 'booksync_queue_depth{queue="booksync"}' in metrics.text
    log_lines = [json.loads(line) for line in (tmp_path / "api.log").read_text().splitlines() if line.startswith("{")]
    assert any("Uvicorn running on" in line["event"] for line in log_lines), log_lines
