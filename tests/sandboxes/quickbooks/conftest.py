"""One sandbox server per test module (started in the module's own directory, stopped at its end), and a
check after each module that every answer the server sent passed Intuit's schema. The servers validate in
``both`` mode: xmlschema and libxml2 judge every body, and any disagreement fails the module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandboxes.quickbooks.sandbox import SandboxInfo, start_sandbox, stop_sandbox


@pytest.fixture(scope="module")
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    options = getattr(request.module, "SANDBOX_OPTIONS", {})
    directory = tmp_path_factory.mktemp("quickbooks-sandbox")
    info = start_sandbox(directory, **{"companies": 1, "validation": "both", **options})
    try:
        yield info
        stats = httpx.get(f"{info.url}/_sandbox/stats", timeout=10).json()
        assert stats["responses_invalid"] == 0, stats["response_errors"]
        assert stats["validator_disagreements"] == 0, stats["response_errors"]
        assert stats["server_errors"] == 0, stats["response_errors"]
    finally:
        stop_sandbox(directory)
