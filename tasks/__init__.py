"""The tasks (public names ``tasks.*``) and the sync engine they run."""

from tasks.definitions import disconnect_connection, ping, push_synced_record, schedule_due_syncs, sync_connection

__all__ = ["disconnect_connection", "ping", "push_synced_record", "schedule_due_syncs", "sync_connection"]
