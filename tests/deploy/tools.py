"""The validators deploy/ is checked with; a missing one fails the test naming the Debian package to install."""

from __future__ import annotations

import shutil

import pytest


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; install it with: apt-get install -y --no-install-recommends {package}",
                    pytrace=False)
    return path
