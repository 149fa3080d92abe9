"""The one place the API hands work to Celery (task names are the public interface in DESIGN.md)."""

from __future__ import annotations

from typing import Any


class EnqueueError(RuntimeError):
    """The broker did not take the task."""


def enqueue(task_name: str, args: list[Any]) -> str:
    """Send ``task_name`` with JSON-serializable ``args`` (never secrets); return the task id."""
    from worker import app as celery_app

    try:
        return str(celery_app.send_task(task_name, args=args).id)
    except Exception as exc:  # noqa: BLE001  (kombu raises many kinds; all mean "not queued")
        raise EnqueueError(f"the task queue is unavailable ({type(exc).__name__})") from exc


def enqueue_sync(connection_id: str, *, full_reconcile: bool = False) -> str:
    args: list[Any] = [connection_id, "manual", True] if full_reconcile else [connection_id, "manual"]
    return enqueue("tasks.sync_connection", args)


def enqueue_disconnect(connection_id: str) -> str:
    return enqueue("tasks.disconnect_connection", [connection_id])


def enqueue_push(synced_record_id: str) -> str:
    return enqueue("tasks.push_synced_record", [synced_record_id])
