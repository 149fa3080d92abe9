"""Handing deliveries to the workers, by the delivery task's public name (arguments are ids only).

Kicks go out after every commit that wrote an event, so they are published the cheap way the beat's
fan-out is (``tasks.publish.publish_many``: a prebuilt route, no ``task-sent`` event), about a tenth of
``send_task``'s cost. A kick that does not reach the broker loses nothing: the delivery is a row, and
the sweep (``tasks.sweep_webhooks``, run by beat) sends whatever is due. So a failed publish is
logged, not raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog

log = structlog.get_logger(__name__)

DELIVER_TASK = "tasks.deliver_webhook"


def kick_deliveries(keys: Sequence[tuple[uuid.UUID, uuid.UUID]], *, countdown: float | None = None) -> int:
    """Enqueue ``tasks.deliver_webhook(event_id, subscription_id)`` for each pair; returns how many went."""
    if not keys:
        return 0
    from tasks.webhooks import deliver_webhook

    try:
        if countdown is not None:
            for event_id, subscription_id in keys:
                deliver_webhook.apply_async((str(event_id), str(subscription_id)), countdown=countdown, retry=False)
            return len(keys)
        from tasks.publish import publish_many

        return publish_many(deliver_webhook, ([str(event_id), str(subscription_id)] for event_id, subscription_id in keys))
    except Exception as exc:  # noqa: BLE001  (kombu raises many kinds; the sweep sends them later)
        log.warning("webhooks.kick_failed", deliveries=len(keys), error=type(exc).__name__)
        return 0
