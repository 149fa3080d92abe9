"""Celery's configuration, built from the settings. Each option here answers a known failure mode."""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from config.settings import Settings

#: The longest countdown a retry may ask for; the visibility timeout is set above it.
MAX_COUNTDOWN_SECONDS = 3600
DEFAULT_QUEUE = "booksync"
#: Webhook deliveries have a queue of their own: workers can be given to them (``-Q booksync.webhooks``)
#: or kept from them (``-Q booksync``), and a worker taking both takes them in turn with syncs.
WEBHOOK_QUEUE = "booksync.webhooks"
WEBHOOK_TASKS = ("tasks.deliver_webhook", "tasks.sweep_webhooks")


def filesystem_transport_options(settings: Settings) -> dict[str, Any]:
    folder = settings.broker_folder
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    # Redis redelivers an unacked task after visibility_timeout: it must exceed the hard time limit
    # plus the longest countdown, for the broker and the result backend alike, or tasks run twice.
    visibility_timeout = settings.task_time_limit + MAX_COUNTDOWN_SECONDS + 600
    transport_options: dict[str, Any] = (
        filesystem_transport_options(settings)
        if settings.uses_filesystem_broker
        else {"visibility_timeout": visibility_timeout}
    )
    if settings.uses_filesystem_broker:
        (settings.home / "results").mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": settings.resolved_broker_url,
        "result_backend": settings.resolved_result_backend,
        "broker_transport_options": transport_options,
        "result_backend_transport_options": {"visibility_timeout": visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "result_expires": 86_400,
        "result_extended": True,
        "task_default_queue": DEFAULT_QUEUE,
        "task_queues": tuple(Queue(name, Exchange(name), routing_key=name) for name in (DEFAULT_QUEUE, WEBHOOK_QUEUE)),
        "task_routes": {name: {"queue": WEBHOOK_QUEUE} for name in WEBHOOK_TASKS},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        # A sync keeps running when the broker connection drops (its work is in the database and the
        # accounting system, not in the broker); cancelling it would only throw that work away. A second
        # delivery of its message later is harmless under the lease. (Celery issues #7185, #9250.)
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_soft_shutdown_timeout": 60.0,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "enable_utc": True,
        "timezone": "UTC",
        "beat_schedule": {
            "schedule-due-syncs": {
                "task": "tasks.schedule_due_syncs",
                "schedule": settings.schedule_interval_seconds,
                "options": {"expires": settings.schedule_interval_seconds * 2},
            },
            "sweep-webhooks": {
                "task": "tasks.sweep_webhooks",
                "schedule": settings.webhook_sweep_seconds,
                "options": {"expires": settings.webhook_sweep_seconds * 2},
            },
        },
        "beat_schedule_filename": str((settings.home / "celerybeat-schedule").resolve()),
    }
