"""Process and task lifecycle: logging, the database pool after fork, the task's log context."""

from __future__ import annotations

from typing import Any

import structlog
from celery.signals import setup_logging, task_postrun, task_prerun, worker_process_init

from config.logging import bind, configure_logging
from models.db import reset_engine


@setup_logging.connect
def _setup_logging(**_: Any) -> None:
    configure_logging()


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    # A forked child must not reuse the parent's pooled connections: they share one socket.
    reset_engine(dispose_pool=True)
    configure_logging(force=True)


@task_prerun.connect
def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    bind(task_id=task_id, task_name=getattr(task, "name", None))


@task_postrun.connect
def _unbind_task(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()
