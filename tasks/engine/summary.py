"""What one sync did, for the log line, the task's result and the demo."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

SyncOutcome = Literal["done", "busy", "skipped", "failed", "interrupted", "rescheduled"]


@dataclass(slots=True)
class SyncSummary:
    connection_id: str
    trigger: str
    organization_id: str | None = None
    platform: str | None = None
    status: SyncOutcome = "done"
    message: str = ""
    full_reconcile: bool = False
    pulled: Counter[str] = field(default_factory=Counter)
    pushed: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    #: Objects that cannot go yet and say why on their records (a payment whose document is not pushed).
    waiting: Counter[str] = field(default_factory=Counter)
    duration_ms: int = 0
    #: Document kinds read past their lag window in this sync (or the run it continues): a continuation
    #: reads them from their cursor alone (``tasks.engine.pull.pull_all``).
    read_past_lag: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "organization_id": self.organization_id,
            "platform": self.platform,
            "trigger": self.trigger,
            "status": self.status,
            "message": self.message,
            "full_reconcile": self.full_reconcile,
            "pulled": dict(self.pulled),
            "pushed": dict(self.pushed),
            "errors": dict(self.errors),
            "deleted": dict(self.deleted),
            "waiting": dict(self.waiting),
            "duration_ms": self.duration_ms,
        }
