"""The Procfile's processes (web, worker, beat, flower) start commands that exist with options they accept."""

from __future__ import annotations

import os
import subprocess

from tests.support.processes import PROJECT_ROOT, VENV_BIN


def _processes() -> dict[str, str]:
    lines = (PROJECT_ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run(["sh", "-c", command], env={"PATH": path, "HOME": str(PROJECT_ROOT), **env},
                          capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)


def test_the_procfile_has_the_four_processes() -> None:
    assert list(_processes()) == ["web", "worker", "beat", "flower"]


def test_each_process_command_accepts_its_options() -> None:
    for name, command in _processes().items():
        result = _sh(f"{command} --help", {"FLOWER_BASIC_AUTH": "ops:pw"})
        assert result.returncode == 0, (name, result.stderr[-2000:])
        assert "Usage:" in result.stdout, name


def test_flower_refuses_to_start_without_basic_auth() -> None:
    result = _sh(_processes()["flower"], {})
    assert result.returncode != 0
    assert "set FLOWER_BASIC_AUTH=user:password" in result.stderr


def test_the_worker_stops_through_the_soft_shutdown() -> None:
    assert _processes()["worker"].startswith("REMAP_SIGTERM=SIGQUIT exec celery --quiet -A worker worker ")
