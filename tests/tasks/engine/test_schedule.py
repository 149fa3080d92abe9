from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from models import AccountingConnection, ConnectionStatus, Organization
from models.db import get_sessionmaker
from tasks.engine.schedule import enqueue_due
from tasks.scheduling import next_slot, slot_offset

HOUR = 3600
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _ids_with_distinct_slots(count: int) -> list[uuid.UUID]:
    chosen: dict[int, uuid.UUID] = {}
    while len(chosen) < count:
        candidate = uuid.uuid4()
        chosen.setdefault(slot_offset(candidate, HOUR), candidate)
    return list(chosen.values())


def _connect(session: Session, ids: Sequence[uuid.UUID], status: str = ConnectionStatus.CONNECTED) -> None:
    for connection_id in ids:
        org = Organization(name=f"org {connection_id}")
        session.add(org)
        session.flush()
        session.add(
            AccountingConnection(
                id=connection_id, organization_id=org.id, platform="tryton", status=status,
                next_sync_at=next_slot(connection_id, T0, HOUR),
            )
        )
    session.commit()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[datetime, str]] = []
        self.now = T0

    def __call__(self, connection_ids: Sequence[str]) -> None:
        self.calls.extend((self.now, connection_id) for connection_id in connection_ids)


def _tick(recorder: Recorder, when: datetime) -> int:
    recorder.now = when
    return enqueue_due(get_sessionmaker(), when, HOUR, recorder)


def test_each_connection_is_enqueued_once_per_hour_at_its_own_minute(session: Session) -> None:
    ids = _ids_with_distinct_slots(3)
    _connect(session, ids)
    recorder = Recorder()
    for minute in range(0, 3 * 60 + 1):
        _tick(recorder, T0 + timedelta(minutes=minute))

    per_connection = Counter(connection_id for _, connection_id in recorder.calls)
    assert per_connection == {str(i): 3 for i in ids}
    for connection_id in ids:
        minutes = {when.minute for when, enqueued in recorder.calls if enqueued == str(connection_id)}
        assert minutes == {slot_offset(connection_id, HOUR) // 60}, "always at the connection's own minute"


def test_a_doubled_tick_enqueues_nothing_twice(session: Session) -> None:
    ids = _ids_with_distinct_slots(3)
    _connect(session, ids)
    recorder = Recorder()
    end = T0 + timedelta(hours=1)
    assert _tick(recorder, end) == 3
    assert _tick(recorder, end) == 0
    assert _tick(recorder, end + timedelta(seconds=30)) == 0


def test_a_late_tick_enqueues_what_was_missed_once_and_keeps_the_slot(session: Session) -> None:
    ids = _ids_with_distinct_slots(3)
    _connect(session, ids)
    recorder = Recorder()
    late = T0 + timedelta(hours=2, minutes=59)
    assert _tick(recorder, late) == 3, "a beat that was down for hours enqueues each connection once, not per missed hour"
    with get_sessionmaker()() as check:
        for connection_id in ids:
            connection = check.get(AccountingConnection, connection_id)
            assert connection is not None and connection.next_sync_at is not None
            assert connection.next_sync_at > late
            assert (connection.next_sync_at - T0).total_seconds() % HOUR == slot_offset(connection_id, HOUR)


def test_only_connected_connections_are_scheduled(session: Session) -> None:
    connected = _ids_with_distinct_slots(1)
    others = [uuid.uuid4() for _ in range(3)]
    _connect(session, connected)
    _connect(session, others[:1], ConnectionStatus.DISCONNECTED)
    _connect(session, others[1:2], ConnectionStatus.DEAUTHORIZED)
    _connect(session, others[2:], ConnectionStatus.PENDING_AUTH)
    recorder = Recorder()
    _tick(recorder, T0 + timedelta(hours=1))
    assert [c for _, c in recorder.calls] == [str(connected[0])]


def test_slots_spread_evenly_over_the_hour() -> None:
    offsets = Counter(slot_offset(uuid.uuid4(), HOUR) // 60 for _ in range(60_000))
    assert len(offsets) == 60
    assert max(offsets.values()) < 1.2 * 1000 and min(offsets.values()) > 0.8 * 1000


def test_partitions_split_the_due_connections_exactly_once_between_them(session: Session) -> None:
    ids = [uuid.uuid4() for _ in range(60)]
    _connect(session, ids)
    recorder = Recorder()
    later = T0 + timedelta(hours=1)
    counts = [enqueue_due(get_sessionmaker(), later, HOUR, recorder, partition=k, partitions=3) for k in range(3)]

    assert sorted(c for _, c in recorder.calls) == sorted(str(i) for i in ids)
    assert all(count > 0 for count in counts), "each part of the id space has its share"
    assert enqueue_due(get_sessionmaker(), later, HOUR, recorder) == 0


def test_partition_bounds_cover_the_id_space() -> None:
    from tasks.engine.schedule import partition_bounds

    assert partition_bounds(0, 1) == (None, None)
    bounds = [partition_bounds(k, 4) for k in range(4)]
    assert bounds[0][0] is None and bounds[-1][1] is None
    assert all(bounds[k][1] == bounds[k + 1][0] for k in range(3))
    with pytest.raises(ValueError, match="partition must be from 0 to 3"):
        partition_bounds(4, 4)
