"""schemathesis's operations as ordinary pytest parameters.

``@schema.parametrize()`` gives every operation's test the same node id, and pytest-xdist schedules by
node id: under ``make test`` (four processes) one operation was fuzzed and the rest never ran. Each
operation as a ``pytest.mark.parametrize`` value has its own id, so every one runs wherever xdist puts it.
"""

from __future__ import annotations

from typing import Any

import pytest


def by_operation(schema: Any) -> Any:
    """``@by_operation(schema)`` on a test taking ``operation`` (draw its cases with ``operation.as_strategy()``)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    return pytest.mark.parametrize("operation", operations, ids=[operation.label for operation in operations])
