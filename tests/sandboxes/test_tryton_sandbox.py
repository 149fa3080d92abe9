"""The Tryton sandbox's life cycle: start from a template, status, stop by pid, and what a stopped
server looks like to the adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.secrets import Credentials
from sandboxes.tryton.sandbox import REPO_ROOT, sandbox_status, start_sandbox, stop_sandbox
from providers.errors import RetryableError
from providers.tryton import TrytonProvider

pytestmark = pytest.mark.slow


def test_start_status_stop_and_a_stopped_server_is_retryable(tryton_template: Path, tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    started = time.monotonic()
    info = start_sandbox(directory, template=tryton_template)
    from_template = time.monotonic() - started
    try:
        build = json.loads((tryton_template / "template.json").read_text())["seconds"]
        assert build + from_template < 60, f"nothing to serving took {build + from_template:.1f} s"
        assert from_template < 15
        status = sandbox_status(directory)
        assert status == info
        assert start_sandbox(directory, template=tryton_template).pid == info.pid
        saved = json.loads((directory / "sandbox.json").read_text())
        assert saved["url"] == info.url and saved["port"] == info.port
        with TrytonProvider(info.settings, Credentials(info.credentials)) as provider:
            assert provider.check().organization_name == info.seed()["company"]["name"]
    finally:
        assert stop_sandbox(directory)
    assert sandbox_status(directory) is None
    assert not (directory / "trytond.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)
    with TrytonProvider(info.settings, Credentials(info.credentials)) as provider, pytest.raises(RetryableError):
        provider.check()
    assert not stop_sandbox(directory)


def test_command_line_reports_a_sandbox_that_is_not_running(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandboxes.tryton.sandbox", "status", "--dir", str(tmp_path), "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 3, result.stderr
    assert json.loads(result.stdout) is None
    assert "RuntimeWarning" not in result.stderr
