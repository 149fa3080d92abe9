"""A sync of a Xero connection by the engine, against the local Xero: the token refreshed under the
connection's lease on the way, bills pushed (one refused for a tax rate Xero lacks), the books pulled."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from models import AccountingConnection, AccountingDocument, AccountingSyncedRecord, Organization, get_sessionmaker
from sandboxes.xero.sandbox import SandboxInfo
from tasks.engine import sync
from tests.conftest_xero import XeroRaw, expired, xero_settings
from tests.support.env import booksync_env
from tests.tasks.conftest import make_bill, make_counterpart


@pytest.fixture
def xero_env(pg_url: str, xero_sandbox: SandboxInfo) -> Iterator[None]:
    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], **xero_settings(xero_sandbox)):
        yield


def test_a_sync_refreshes_the_token_pushes_and_pulls(xero_env: None, xero_raw: XeroRaw) -> None:
    tenant = xero_raw.new_tenant("Engine Sync Ltd")
    with get_sessionmaker()() as session:
        organization = Organization(name="Engine Sync")
        session.add(organization)
        session.flush()
        connection = AccountingConnection(
            organization_id=organization.id, platform="xero", status="connected", settings=tenant.settings,
            credentials=expired(tenant.token).to_credentials().reveal(), backfill=True,
            books_id=f"xero:{tenant.tenant_id}", connected_at=datetime.now(UTC) - timedelta(hours=1),
            next_sync_at=datetime.now(UTC) + timedelta(hours=1),
        )
        session.add(connection)
        session.flush()
        vendor = make_counterpart(session, organization, "Engine Vendor", vendor=True)
        make_bill(session, organization, vendor, "ES-1")
        make_bill(session, organization, vendor, "ES-2", tax_rate_value=700)
        session.commit()
        connection_id = connection.id
    issued = xero_raw.stats()["tokens_issued"]

    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")

    assert summary.status == "done", summary.message
    assert summary.pushed == {"vendor": 1, "bill": 1} and summary.errors == {"bill": 1}
    assert xero_raw.stats()["tokens_issued"] == issued + 1
    with get_sessionmaker()() as session:
        stored = session.get(AccountingConnection, connection_id)
        assert stored is not None and stored.credentials is not None
        assert stored.credentials["refresh_token"] != tenant.token.refresh_token, "the rotation was stored"
        assert stored.refresh_lease_holder is None
        errors = [r.errors for r in session.query(AccountingSyncedRecord).filter_by(sync_status="error")]
        assert errors and errors[0]["details"] == {"field": "lines[0].tax_rate_value", "value": 700}
        assert session.query(AccountingDocument).filter_by(connection_id=connection_id).count() == 6
    held = [i for i in xero_raw.state(tenant.tenant_id, "invoices") if i.get("InvoiceNumber") == "ES-1"]
    assert len(held) == 1 and held[0]["Type"] == "ACCPAY" and held[0]["Total"] == 120.0
