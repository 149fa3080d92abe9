"""schemathesis against the app: for every operation, bounded examples, no 5xx and every response as documented.

Every request is authenticated with a platform-wide key and scoped to a seeded organization; path ids are
often the seeded objects' so that found-object responses are checked too, not only 404s.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.orm import Session

from tests.support import report
from tests.support.fuzzing import by_operation
from tests.api.conftest import (
    counterpart_body,
    document_body,
    make_accounting_document,
    make_connection,
    make_ledger_account,
    make_records,
    make_tax_rate,
    make_tenant,
)

EXAMPLES_PER_OPERATION = 35


@dataclass
class Seeded:
    headers: dict[str, str]
    ids: dict[str, str]


@pytest.fixture
def seeded(client: TestClient, db: Session, platform_key: str) -> Seeded:
    tenant = make_tenant(db, "Fuzzed")
    connection = make_connection(db, tenant.id)
    (record,) = make_records(db, connection, 1, errors={"message": "refused", "details": {"field": "tax"}})
    make_records(db, connection, 3, object_type="receivable")
    external = make_tax_rate(db, tenant.id, "VAT", connection=connection)
    internal = make_tax_rate(db, tenant.id, "Internal")
    account = make_ledger_account(db, connection, "Sales")
    make_accounting_document(db, connection, "payable", "1")
    make_accounting_document(db, connection, "receivable", "2")
    counterpart_id, payable_id, receivable_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    client.put(f"/counterparts/{counterpart_id}", headers=tenant.headers, json=counterpart_body())
    client.put(f"/payables/{payable_id}", headers=tenant.headers, json=document_body(counterpart_id, "new"))
    client.put(f"/receivables/{receivable_id}", headers=tenant.headers, json=document_body(counterpart_id, "issued"))
    ids = {
        "organization_id": str(tenant.id),
        "connection_id": str(connection.id),
        "synced_record_id": str(record.id),
        "tax_rate_id": random.choice([str(external.id), str(internal.id)]),
        "ledger_account_id": str(account.id),
        "payable_id": str(payable_id),
        "receivable_id": str(receivable_id),
        "counterpart_id": str(counterpart_id),
        "invoice_id": "2",
    }
    return Seeded({"Authorization": f"Bearer {platform_key}", "X-Organization-Id": str(tenant.id)}, ids)


def _schema() -> Any:
    # Loaded at collection: building the app and its OpenAPI document touches no database.
    # (schemathesis.pytest.from_fixture would fit better, but 4.32 breaks on pytest 9's nodes.)
    from api.app import create_app

    return schemathesis.openapi.from_asgi("/openapi.json", create_app())


schema = _schema()


@by_operation(schema)
@given(data=st.data())
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_responses_as_documented(operation: Any, data: st.DataObject, seeded: Seeded) -> None:
    case = data.draw(operation.as_strategy())
    case.headers = {**(case.headers or {}), **seeded.headers}
    for name in list(case.path_parameters or {}):
        if name in seeded.ids and random.random() < 0.5:
            case.path_parameters[name] = seeded.ids[name]
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
    report.add("schemathesis", cases=1)


@report.line("schemathesis")
def _cases_line(counts: Any) -> str:
    return (f"schemathesis: {counts.get('cases', 0)} generated requests against booksync's OpenAPI, none answered "
            "5xx, every answer as documented")
