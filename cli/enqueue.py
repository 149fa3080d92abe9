"""Enqueue tasks by their public names and follow them to the end, without importing the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.output import fail

if TYPE_CHECKING:
    from celery.result import AsyncResult

BROKER_CHECK_SECONDS = 5.0
WaitOption = Annotated[bool, typer.Option("--wait", help="Follow the task to its end and print the outcome.")]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=1, help="With --wait: give up waiting after this many seconds.")
]


@dataclass(frozen=True)
class Outcome:
    task_id: str
    state: str
    value: Any
    """The task's return value; for a failed task, its error message."""

    @property
    def finished(self) -> bool:
        return self.state in {"SUCCESS", "FAILURE", "REVOKED", "REJECTED"}

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCESS"


def require_broker() -> None:
    """Fail at once, before anything changes, when the broker cannot be reached (Celery would retry for long)."""
    from worker import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=BROKER_CHECK_SECONDS)


def send(name: str, args: list[Any]) -> AsyncResult:
    from worker import app

    try:
        return app.send_task(name, args=args)
    except RuntimeError as exc:
        fail(f"cannot reach the result backend: {' '.join(str(exc).split())}")


def follow(result: AsyncResult, timeout: float) -> Outcome:
    from celery.exceptions import TimeoutError as CeleryTimeout

    from config.logging import redact_text

    try:
        value = result.get(timeout=timeout, propagate=False, interval=0.2)
    except CeleryTimeout:
        return Outcome(result.id, result.state, None)
    finally:
        # Unsubscribe now: left to AsyncResult.__del__, it runs during interpreter shutdown and fails.
        result.backend.remove_pending_result(result)
    state = result.state
    if isinstance(value, BaseException):
        value = redact_text(f"{type(value).__name__}: {value}")
    return Outcome(result.id, state, value)


def not_finished_message(outcome: Outcome, timeout: float) -> str:
    return (
        f"task {outcome.task_id} is still {outcome.state.lower()} after {timeout:g}s; "
        "it goes on in the worker (follow it in Flower)"
    )
