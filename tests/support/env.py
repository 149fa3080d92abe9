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


#: The test servers (Tryton, the hostile ones) listen on loopback.
TEST_ALLOWED_ADDRESSES = "loopback"


@contextmanager
def booksync_env(**values: str | None) -> Iterator[None]:
    """Set BOOKSYNC_<NAME> variables (None removes one) for the duration, then restore. Tenants' server
    URLs may point at loopback (where the test servers are) unless ``provider_allowed_addresses`` says
    otherwise."""
    values = {"provider_allowed_addresses": TEST_ALLOWED_ADDRESSES, **values}
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


@contextmanager
def app_publishing_to(broker_url: str) -> Iterator[None]:
    """This process's Celery app (what the API enqueues with) publishes to ``broker_url`` for the duration.

    The app reads its broker once, when first imported; a test whose worker listens on a Redis of its own
    points the in-process API there, or the API's tasks would land in the process's default test broker.
    """
    from worker import app

    def forget_connections() -> None:
        app._pool = None  # noqa: SLF001 -- Celery caches the producer pool of the broker it first used
        app.amqp._producer_pool = None  # noqa: SLF001

    saved = app.conf.broker_url
    app.conf.broker_url = broker_url
    forget_connections()
    try:
        yield
    finally:
        app.conf.broker_url = saved
        forget_connections()
