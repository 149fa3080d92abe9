"""Syncs of a QuickBooks Online connection by the engine, against the local QuickBooks: the token refreshed under
the connection's lease, counterparts, bills and invoices pushed (one refused for a tax rate QuickBooks lacks),
the books pulled, a deletion found through CDC at the next sync, and the authorization's end shown as a warning."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal

import pytest

from api.routes.connections import connection_resource
from models import AccountingConnection, AccountingDocument, AccountingSyncedRecord, Organization, get_sessionmaker
from providers.oauth import TokenSet
from providers.quickbooks import app as qb_app
from sandboxes.quickbooks.sandbox import SandboxInfo
from tasks.engine import sync
from tests.conftest_quickbooks import QuickBooksCompany, QuickBooksRaw, expired, quickbooks_settings
from tests.support.env import booksync_env
from tests.tasks.conftest import make_bill, make_counterpart, make_invoice


@pytest.fixture
def qb_env(pg_url: str, redis_url: str, quickbooks_sandbox: SandboxInfo) -> Iterator[None]:
    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], broker_url=redis_url,
                      **quickbooks_settings(quickbooks_sandbox)):
        yield


def connect(company: QuickBooksCompany, token: TokenSet, name: str) -> tuple[object, object]:
    with get_sessionmaker()() as session:
        organization = Organization(name=name)
        session.add(organization)
        session.flush()
        connection = AccountingConnection(
            organization_id=organization.id, platform="quickbooks_online", status="connected",
            settings=company.settings, credentials=token.to_credentials().reveal(), backfill=True,
            books_id=f"quickbooks:{company.realm_id}", connected_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            next_sync_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        )
        session.add(connection)
        session.commit()
        return organization.id, connection.id


def test_a_sync_refreshes_pushes_pulls_and_finds_a_deletion_the_next_time(
    qb_env: None, quickbooks_raw: QuickBooksRaw
) -> None:
    company = quickbooks_raw.new_company("Engine Sync Ltd", country="GB", currency="USD")
    organization_id, connection_id = connect(company, expired(company.token), "Engine Sync")
    with get_sessionmaker()() as session:
        organization = session.get(Organization, organization_id)
        assert organization is not None
        vendor = make_counterpart(session, organization, "Engine Vendor", vendor=True)
        customer = make_counterpart(session, organization, "Engine Customer", vendor=False)
        make_bill(session, organization, vendor, "ES-1")
        make_bill(session, organization, vendor, "ES-2", tax_rate_value=700)
        make_invoice(session, organization, customer, "ES-INV-1")
        session.commit()

    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")

    assert summary.status == "done", summary.message
    assert summary.pushed == {"vendor": 1, "customer": 1, "bill": 1, "receivable": 1}
    assert summary.errors == {"bill": 1}
    with get_sessionmaker()() as session:
        stored = session.get(AccountingConnection, connection_id)
        assert stored is not None and stored.credentials is not None
        assert stored.credentials["refresh_token"] != company.token.refresh_token, "the rotation was stored"
        assert stored.errors == [] and stored.refresh_lease_holder is None
        refused = session.query(AccountingSyncedRecord).filter_by(sync_status="error").one()
        assert refused.errors is not None
        assert refused.errors["details"] == {"field": "lines[0].tax_rate_value", "value": 700}
        pulled = session.query(AccountingDocument).filter_by(connection_id=connection_id, kind="payable").count()
        assert pulled == 3, "the seeded bills (a sync pulls before it pushes)"
    bills = {b["DocNumber"]: b for b in quickbooks_raw.state(company.realm_id, "Bill") if b.get("DocNumber")}
    assert Decimal(str(bills["ES-1"]["TotalAmt"])) == Decimal("120") and "ES-2" not in bills

    seeded = company.seeded["bills"][0]
    quickbooks_raw.delete(company, "Bill", seeded)  # pulled by the first sync
    quickbooks_raw.delete(company, "Bill", bills["ES-1"]["Id"])  # pushed by it
    again = sync.run_sync(get_sessionmaker(), connection_id, "manual")
    assert again.status == "done" and not again.full_reconcile
    assert again.deleted == {"bill": 2}, "found through CDC, without a full reconcile"
    with get_sessionmaker()() as session:
        gone = session.query(AccountingDocument).filter_by(connection_id=connection_id, kind="payable",
                                                           platform_id=seeded).one()
        assert gone.deleted_at is not None
        record = session.query(AccountingSyncedRecord).filter_by(platform_object_id=bills["ES-1"]["Id"],
                                                                 object_type="bill").one()
        assert record.platform_deleted_at is not None, "a push never re-creates it"


def test_the_authorization_ending_within_the_warning_days_is_shown_on_the_connection(
    qb_env: None, quickbooks_raw: QuickBooksRaw
) -> None:
    company = quickbooks_raw.new_company("Ending Soon Ltd", country="GB", currency="USD", seed=False)
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(days=12)
    token = company.token
    ending = TokenSet(token.access_token, token.refresh_token, token.expires_at, ends, token.token_type, token.scope,
                      {**token.extra, qb_app.HARD_EXPIRES_AT: ends.isoformat()})
    _, connection_id = connect(company, ending, "Ending Soon")

    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")

    assert summary.status == "done", summary.message
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, connection_id)
        assert connection is not None
        (warning,) = connection.errors
        assert warning["kind"] == "warning" and "reconnect QuickBooks Online" in warning["message"]
        assert "11 days left" in warning["message"] or "12 days left" in warning["message"]
        shown = connection_resource(connection)
    assert shown.status == "connected" and [e.message for e in shown.errors] == [warning["message"]]
