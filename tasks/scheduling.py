"""When each connection syncs: every period, at a minute fixed by a stable hash of its id.

Spreading connections over the period by hash means 100,000 organizations do not all fire at :00,
and a connection keeps its slot across restarts and beats.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta


def slot_offset(connection_id: uuid.UUID | str, period_seconds: int) -> int:
    """Seconds into each period at which this connection is due (whole minutes)."""
    digest = hashlib.sha256(str(connection_id).encode()).digest()
    minutes = max(1, period_seconds // 60)
    return (int.from_bytes(digest[:8], "big") % minutes) * 60


def next_slot(connection_id: uuid.UUID | str, after: datetime, period_seconds: int) -> datetime:
    """The first time strictly after ``after`` that falls on this connection's slot."""
    after = after.astimezone(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    elapsed = (after - epoch).total_seconds()
    period_start = elapsed - elapsed % period_seconds
    candidate = period_start + slot_offset(connection_id, period_seconds)
    if candidate <= elapsed:
        candidate += period_seconds
    return epoch + timedelta(seconds=candidate)
