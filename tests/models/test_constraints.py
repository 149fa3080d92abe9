from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus, Organization


def _org(session: Session) -> Organization:
    org = Organization(name="Acme")
    session.add(org)
    session.flush()
    return org


def _connection(org: Organization, status: str = ConnectionStatus.CONNECTED) -> AccountingConnection:
    return AccountingConnection(organization_id=org.id, platform="tryton", status=status, credentials={"password": "x"})


def test_a_second_active_connection_for_one_organization_is_refused(session: Session) -> None:
    org = _org(session)
    session.add(_connection(org))
    session.flush()
    session.add(_connection(org, ConnectionStatus.PENDING_AUTH))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_disconnected_connection_does_not_block_a_new_one(session: Session) -> None:
    org = _org(session)
    session.add_all([_connection(org, ConnectionStatus.DISCONNECTED), _connection(org, ConnectionStatus.DISCONNECTED)])
    session.add(_connection(org))
    session.flush()
    assert session.query(AccountingConnection).count() == 3


def test_a_duplicate_synced_record_is_refused(session: Session) -> None:
    org = _org(session)
    connection = _connection(org)
    session.add(connection)
    session.flush()
    object_id = uuid.uuid4()
    for _ in range(2):
        session.add(
            AccountingSyncedRecord(
                organization_id=org.id, connection_id=connection.id, books_id="books-1", object_type="bill", object_id=object_id,
                platform="tryton",
            )
        )
    with pytest.raises(IntegrityError):
        session.flush()


def test_timestamps_come_back_timezone_aware_in_utc(session: Session) -> None:
    org = _org(session)
    session.commit()
    session.expire_all()
    loaded = session.get(Organization, org.id)
    assert loaded is not None and loaded.created_at.utcoffset() is not None
    assert loaded.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
