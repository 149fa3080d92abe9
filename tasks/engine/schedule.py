"""The beat's fan-out: claim due connections in batches, move each to its next slot, enqueue a sync.

Claiming is an UPDATE of ``next_sync_at`` under row locks that a second beat skips, so a late or a
doubled tick enqueues nothing twice. Batches keep memory flat however many connections are due.
With many due at once, the id space is split into partitions that several workers claim in parallel.

A sync whose worker died (its lease lapsed and nobody released it) is due again at the next tick,
not at its next hour: recovery needs no person.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from models import AccountingConnection, ConnectionStatus
from tasks.scheduling import next_slot

log = structlog.get_logger(__name__)
BATCH = 1000
Publish = Callable[[Sequence[str]], None]
_table = AccountingConnection.__table__
MOVE_TO_SLOT = update(_table).where(_table.c.id == bindparam("b_id")).values(next_sync_at=bindparam("b_next"))
# One statement per batch on PostgreSQL: two array parameters joined by unnest, not 1,000 UPDATEs.
MOVE_TO_SLOTS_PG = text(
    "UPDATE accounting_connections AS c SET next_sync_at = s.next_sync_at, updated_at = now() "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:slots AS timestamptz[])) AS s(id, next_sync_at) WHERE c.id = s.id"
)


def partition_bounds(partition: int, partitions: int) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The part of the id space that one of ``partitions`` fan-out tasks claims: [lower, upper)."""
    if not 0 <= partition < partitions:
        raise ValueError(f"partition must be from 0 to {partitions - 1}, got {partition}")
    space = 1 << 128
    lower = uuid.UUID(int=partition * space // partitions) if partition else None
    upper = uuid.UUID(int=(partition + 1) * space // partitions) if partition + 1 < partitions else None
    return lower, upper


def enqueue_due(
    sessions: sessionmaker[Session],
    now: datetime,
    period_seconds: int,
    publish: Publish,
    batch: int = BATCH,
    *,
    partition: int = 0,
    partitions: int = 1,
) -> int:
    """Enqueue one sync for every connected connection due at ``now`` in one part of the id space."""
    lower, upper = partition_bounds(partition, partitions)
    recover_dead_syncs(sessions, now, lower, upper)
    total = 0
    after: uuid.UUID | None = None
    while True:
        with sessions() as session:
            # Walking by id, not by next_sync_at: each claim moves next_sync_at, and a scan in that order
            # would step over every row already claimed again in each batch (quadratic at 100,000).
            statement = (
                select(AccountingConnection.id)
                .where(
                    AccountingConnection.status == ConnectionStatus.CONNECTED.value,
                    AccountingConnection.next_sync_at <= now,
                )
                .order_by(AccountingConnection.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            if after is not None:
                statement = statement.where(AccountingConnection.id > after)
            elif lower is not None:
                statement = statement.where(AccountingConnection.id >= lower)
            if upper is not None:
                statement = statement.where(AccountingConnection.id < upper)
            due = session.execute(statement).scalars().all()
            if not due:
                return total
            after = due[-1]
            _move_to_next_slot(session, due, [next_slot(c, now, period_seconds) for c in due])
            publish([str(connection_id) for connection_id in due])
            session.commit()
            total += len(due)


def recover_dead_syncs(
    sessions: sessionmaker[Session], now: datetime, lower: uuid.UUID | None = None, upper: uuid.UUID | None = None
) -> int:
    """Connections whose sync lease lapsed without a release: forget the dead lease, make them due now."""
    table = AccountingConnection.__table__
    statement = (
        update(table)
        .where(
            table.c.status == ConnectionStatus.CONNECTED.value,
            table.c.lease_holder.is_not(None),
            table.c.lease_expires_at < now,
        )
        .values(lease_holder=None, lease_expires_at=None, next_sync_at=now)
    )
    if lower is not None:
        statement = statement.where(table.c.id >= lower)
    if upper is not None:
        statement = statement.where(table.c.id < upper)
    with sessions() as session:
        recovered = session.execute(statement).rowcount
        session.commit()
    if recovered:
        log.info("schedule.recovered_dead_syncs", connections=recovered)
    return int(recovered or 0)


def _move_to_next_slot(session: Session, ids: Sequence[uuid.UUID], slots: Sequence[datetime]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(MOVE_TO_SLOTS_PG, {"ids": list(ids), "slots": list(slots)})
    else:
        session.execute(MOVE_TO_SLOT, [{"b_id": i, "b_next": t} for i, t in zip(ids, slots, strict=True)])
