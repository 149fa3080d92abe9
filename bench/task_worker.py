"""The Celery app a benchmark's worker runs: booksync's own (``worker``), with the in-memory books registered.

``celery -A bench.task_worker worker ...`` is ``celery -A worker worker ...`` plus the ``memory`` platform,
which production does not know (``sandboxes.memory`` registers it on import).

With ``BOOKSYNC_BENCH_PROFILE`` naming a folder, each worker process profiles the tasks it runs (cProfile)
and writes ``<folder>/<pid>.prof`` when it exits.
"""

from __future__ import annotations

import os
from typing import Any

import sandboxes.memory  # noqa: F401  (registers the memory platform)
from worker import app

celery = app
PROFILE_ENV = "BOOKSYNC_BENCH_PROFILE"

if os.environ.get(PROFILE_ENV):
    import cProfile

    from celery.signals import task_postrun, task_prerun, worker_process_shutdown

    _profile = cProfile.Profile()

    @task_prerun.connect
    def _start(**_: Any) -> None:
        _profile.enable()

    @task_postrun.connect
    def _stop(**_: Any) -> None:
        _profile.disable()

    @worker_process_shutdown.connect
    def _dump(**_: Any) -> None:
        _profile.dump_stats(os.path.join(os.environ[PROFILE_ENV], f"{os.getpid()}.prof"))

__all__ = ["app", "celery"]
