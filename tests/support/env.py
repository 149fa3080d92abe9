"""Point booksync's one settings reader at a test's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def reset_caches() -> None:
    from config.settings import reset_settings_cache
    from models.db import reset_engine

    reset_settings_cache()
    reset_engine()


@contextmanager
def booksync_env(**values: str | None) -> Iterator[None]:
    """Set BOOKSYNC_<NAME> variables (None removes one) for the duration, then restore."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("BOOKSYNC_") and not k.startswith("BOOKSYNC_TEST_")}
    for key in saved:
        del os.environ[key]
    for name, value in values.items():
        key = f"BOOKSYNC_{name.upper()}"
        if value is not None:
            os.environ[key] = value
    reset_caches()
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("BOOKSYNC_") and not k.startswith("BOOKSYNC_TEST_")]:
            del os.environ[key]
        os.environ.update(saved)
        reset_caches()
