"""A local Tryton 8.2 server on SQLite, seeded with a company, for the demo and the tests.

The functions live in ``sandboxes.tryton.sandbox`` (``start_sandbox``, ``stop_sandbox``,
``sandbox_status``, ``prepare_template``, ``cached_template``); they are re-exported here lazily so
that ``python -m sandboxes.tryton.sandbox`` does not import the module twice.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SandboxError",
    "SandboxInfo",
    "cached_template",
    "prepare_template",
    "sandbox_status",
    "start_sandbox",
    "stop_sandbox",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sandboxes.tryton import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
