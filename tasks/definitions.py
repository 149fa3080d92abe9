"""Placeholder; replaced by the engine's tasks."""

from __future__ import annotations

from worker import app


@app.task(name="tasks.ping")
def ping() -> str:
    return "pong"


schedule_due_syncs = sync_connection = push_synced_record = disconnect_connection = ping
