"""The tasks (public names ``tasks.*``) and the sync engine they run."""

from tasks.definitions import disconnect_connection, ping, push_synced_record, schedule_due_syncs, sync_connection
from tasks.webhooks import deliver_webhook, sweep_webhooks

__all__ = [
    "deliver_webhook", "disconnect_connection", "ping", "push_synced_record", "schedule_due_syncs", "sweep_webhooks",
    "sync_connection",
]
