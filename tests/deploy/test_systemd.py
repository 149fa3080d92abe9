"""The systemd units pass ``systemd-analyze verify`` without a single complaint, and stop a worker gracefully."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

from tests.deploy.tools import require_tool
from tests.support.processes import PROJECT_ROOT, VENV_BIN

UNITS = PROJECT_ROOT / "deploy" / "systemd"
INSTALLED_VENV_BIN = "/opt/booksync/venv/bin/"
SOFT_SHUTDOWN_SECONDS = 60


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def test_every_unit_verifies_cleanly(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    units = sorted(UNITS.glob("*.service"))
    assert {u.name for u in units} == {"booksync-api.service", "booksync-worker.service", "booksync-beat.service",
                                      "booksync-flower.service", "booksync-migrate.service"}
    for unit in units:
        # The units run the installed virtualenv's commands; here they point at this checkout's.
        text = unit.read_text()
        assert INSTALLED_VENV_BIN in text
        (tmp_path / unit.name).write_text(text.replace(INSTALLED_VENV_BIN, f"{VENV_BIN}/"))
    result = subprocess.run([analyze, "verify", "--man=no", *sorted(str(p) for p in tmp_path.glob("*.service"))],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_does_complain_about_a_broken_unit(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=/nonexistent/celery\nKillMode=sideways\n")
    result = subprocess.run([analyze, "verify", "--man=no", str(broken)], capture_output=True, text=True, timeout=60)
    assert "sideways" in result.stderr and "/nonexistent/celery" in result.stderr


def test_the_worker_stops_through_celerys_soft_shutdown_within_the_stop_timeout() -> None:
    service = _unit("booksync-worker.service")["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert "REMAP_SIGTERM=SIGQUIT" in service["Environment"].split()
    assert int(service["TimeoutStopSec"]) >= SOFT_SHUTDOWN_SECONDS + 15


def test_the_worker_unit_matches_celerys_configured_soft_shutdown() -> None:
    from config.settings import Settings
    from worker.config import celery_config

    assert celery_config(Settings())["worker_soft_shutdown_timeout"] == SOFT_SHUTDOWN_SECONDS


def test_every_unit_reads_the_environment_file_and_runs_unprivileged() -> None:
    for unit in UNITS.glob("*.service"):
        service = _unit(unit.name)["Service"]
        assert service["EnvironmentFile"] == "/etc/booksync/booksync.env", unit.name
        assert service["User"] == "booksync" and service["NoNewPrivileges"] == "yes", unit.name
    example = (UNITS / "booksync.env.example").read_text()
    for name in ("BOOKSYNC_DATABASE_URL", "BOOKSYNC_BROKER_URL", "BOOKSYNC_SECRET_KEY", "FLOWER_BASIC_AUTH"):
        assert f"\n{name}=" in example
