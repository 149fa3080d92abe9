"""A client written to the reference's spelling (``/accounting_synced_records``, ``x-monite-entity-id``)
gets the answers booksync's own spelling gets."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.reference_spelling import booksync_path
from tests.api.conftest import Tenant, make_connection


def test_reference_paths_map_to_booksyncs() -> None:
    assert booksync_path("/accounting_synced_records/abc/push") == "/accounting-synced-records/abc/push"
    assert booksync_path("/accounting_connections") == "/accounting-connections"
    assert booksync_path("/ledger_accounts/1") == "/ledger-accounts/1"
    assert booksync_path("/accounting/payables") == "/accounting/payables"
    assert booksync_path("/webhook_subscriptions") == "/webhook_subscriptions"  # not the reference's: unchanged


def test_the_reference_spelling_gets_the_same_answers(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    reference_headers = {"Authorization": tenant.headers["Authorization"],
                         "x-monite-entity-id": str(tenant.id), "x-monite-version": "2024-05-25"}
    for ours, theirs in (
        ("/accounting-connections", "/accounting_connections"),
        (f"/accounting-connections/{connection.id}", f"/accounting_connections/{connection.id}"),
        ("/accounting-synced-records?object_type=bill", "/accounting_synced_records?object_type=bill"),
        ("/accounting-tax-rates", "/accounting_tax_rates"),
        ("/ledger-accounts", "/ledger_accounts"),
    ):
        mine = client.get(ours, headers=tenant.headers)
        reference = client.get(theirs, headers=reference_headers)
        assert mine.status_code == reference.status_code == 200, (theirs, reference.text)
        assert mine.json() == reference.json()


def test_both_headers_given_booksyncs_wins(client: TestClient, tenant: Tenant, other_tenant: Tenant, db: Session) -> None:
    make_connection(db, tenant.id)
    headers = {**tenant.headers, "x-monite-entity-id": str(other_tenant.id)}
    answer = client.get("/accounting_connections", headers=headers)
    assert answer.status_code == 200 and len(answer.json()["data"]) == 1
