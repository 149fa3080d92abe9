"""``api.intake`` without HTTP (what ``booksync documents import`` calls), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.intake import IntakeError, IntakeNotFoundError, import_record, upsert_counterpart, upsert_payable
from models import Organization, Payable
from tests.api.conftest import counterpart_body, document_body


@pytest.fixture
def organization_id(session: Session) -> uuid.UUID:
    organization = Organization(id=uuid.uuid4(), name="Acme")
    session.add(organization)
    session.commit()
    return organization.id


def test_upserts_say_what_happened(session: Session, organization_id: uuid.UUID) -> None:
    counterpart_id, payable_id = uuid.uuid4(), uuid.uuid4()
    assert upsert_counterpart(session, organization_id, counterpart_id, counterpart_body()).outcome == "created"
    body = document_body(counterpart_id, "new")
    first = upsert_payable(session, organization_id, payable_id, body)
    session.commit()
    assert first.outcome == "created" and first.created and first.object.eligible_at is None
    updated_at = first.object.updated_at
    assert upsert_payable(session, organization_id, payable_id, body).outcome == "unchanged"
    session.commit()
    session.expire_all()
    assert session.get(Payable, payable_id).updated_at == updated_at  # type: ignore[union-attr]
    changed = upsert_payable(session, organization_id, payable_id, {**body, "status": "waiting_to_be_paid"})
    session.commit()
    assert changed.outcome == "updated" and changed.object.eligible_at is not None
    assert changed.object.updated_at > updated_at


def test_a_refused_record_leaves_the_session_usable(session: Session, organization_id: uuid.UUID) -> None:
    counterpart_id = uuid.uuid4()
    upsert_counterpart(session, organization_id, counterpart_id, counterpart_body())
    with pytest.raises(IntakeError) as refused:
        upsert_payable(session, organization_id, uuid.uuid4(), document_body(counterpart_id, "draft", subtotal=1))
    assert refused.value.field == "subtotal" and "line totals add up to 2550" in refused.value.message
    upsert_payable(session, organization_id, uuid.uuid4(), document_body(counterpart_id, "draft"))
    session.commit()
    assert session.query(Payable).count() == 1


def test_pydantic_errors_name_the_field(session: Session, organization_id: uuid.UUID) -> None:
    with pytest.raises(IntakeError) as refused:
        upsert_counterpart(session, organization_id, uuid.uuid4(), {"name": "x", "is_vendor": "perhaps"})
    assert refused.value.field == "is_vendor"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"organization_id": "x", "id": str(uuid.uuid4())}, "type"),
        ({"type": "invoice", "id": str(uuid.uuid4())}, "type"),
        ({"type": "counterpart", "id": str(uuid.uuid4())}, "organization_id"),
        ({"type": "counterpart", "organization_id": "nope", "id": str(uuid.uuid4())}, "organization_id"),
        ({"type": "counterpart", "organization_id": str(uuid.uuid4()), "name": "x"}, "id"),
        (
            {"type": "counterpart", "organization_id": str(uuid.uuid4()), "id": str(uuid.uuid4()), "name": "x"},
            "organization_id",
        ),
    ],
)
def test_import_record_refusals_name_the_field(session: Session, record: dict[str, Any], field: str) -> None:
    with pytest.raises(IntakeError) as refused:
        import_record(session, record)
    assert refused.value.field == field


def test_import_record_upserts_each_kind(session: Session, organization_id: uuid.UUID) -> None:
    counterpart_id = uuid.uuid4()
    common = {"organization_id": str(organization_id)}
    counterpart = {"type": "counterpart", "id": str(counterpart_id), **common, **counterpart_body()}
    payable = {"type": "payable", "id": str(uuid.uuid4()), **common, **document_body(counterpart_id, "paid")}
    receivable = {"type": "receivable", "id": str(uuid.uuid4()), **common, **document_body(counterpart_id, "issued")}
    results = [import_record(session, record) for record in (counterpart, payable, receivable, counterpart)]
    session.commit()
    assert [result.outcome for result in results] == ["created", "created", "created", "unchanged"]


def test_another_organizations_id_is_not_found(session: Session, organization_id: uuid.UUID) -> None:
    other = Organization(id=uuid.uuid4(), name="Other")
    session.add(other)
    counterpart_id = uuid.uuid4()
    upsert_counterpart(session, organization_id, counterpart_id, counterpart_body())
    session.commit()
    with pytest.raises(IntakeNotFoundError):
        upsert_counterpart(session, other.id, counterpart_id, counterpart_body())


def test_a_concurrent_create_of_the_same_id_is_a_conflict_not_a_crash(pg_url: str) -> None:
    import threading

    from api.intake import IntakeConflictError
    from models.db import get_sessionmaker

    sessions = get_sessionmaker()
    with sessions() as setup:
        organization = Organization(id=uuid.uuid4(), name="Acme")
        setup.add(organization)
        setup.commit()
    counterpart_id = uuid.uuid4()
    first, second = sessions(), sessions()
    upsert_counterpart(first, organization.id, counterpart_id, counterpart_body())
    outcome: list[BaseException | str] = []

    def racing() -> None:
        try:
            outcome.append(upsert_counterpart(second, organization.id, counterpart_id, counterpart_body()).outcome)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    thread = threading.Thread(target=racing)
    thread.start()
    thread.join(1.0)
    first.commit()
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], IntakeConflictError)
    assert upsert_counterpart(second, organization.id, counterpart_id, counterpart_body()).outcome == "unchanged"
    first.close()
    second.close()
