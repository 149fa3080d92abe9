"""The local Xero's fault switches, each seen from a client: 5xx, latency, an answer lost after the work
committed (recovered with the Idempotency-Key), revoked grants, expired refresh and access tokens."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.sandboxes.xero.conftest import Xero, bill, connect
from tests.support.processes import wait_for


def test_5xx_for_the_next_calls_matching_method_and_path(xero: Xero) -> None:
    xero.fault(kind="error", status=503, count=2, method="PUT", path="/invoices")
    assert xero.get("/Invoices").status_code == 200  # another method: untouched
    supplier = xero.contact_id("PowerDirect")
    before = len(xero.state("invoices"))
    answers = [xero.put("/Invoices", {"Invoices": [bill(supplier, Reference="five-oh-three")]}) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json()["Title"] == "Service Unavailable"
    assert len(xero.state("invoices")) == before + 1  # the refused calls did nothing
    assert xero.stats()["faults"] == []


def test_latency_is_added_to_each_call(xero: Xero) -> None:
    xero.fault(kind="latency", seconds=0.4, path="/Organisation")
    try:
        started = time.monotonic()
        assert xero.get("/Organisation").status_code == 200
        assert time.monotonic() - started >= 0.4
        assert xero.stats()["faults_fired"]["latency"] >= 1
    finally:
        xero.clear_faults()


def test_a_slow_call_whose_client_went_away_is_still_done(xero: Xero) -> None:
    """A client killed mid-call (what the fault suite does to a worker) does not undo the call."""
    supplier = xero.contact_id("Swanston Security")
    reference = f"gone-{uuid.uuid4().hex[:8]}"
    xero.fault(kind="latency", seconds=1.0, method="PUT", path="/Invoices")
    try:
        with pytest.raises(httpx.ReadTimeout):
            xero.request("PUT", "/Invoices", json={"Invoices": [bill(supplier, Reference=reference)]},
                         timeout=0.2)  # the client gives up and closes its connection during the wait
    finally:
        xero.clear_faults()
    wait_for(lambda: [i for i in xero.state("invoices") if i.get("Reference") == reference], timeout=10,
             what="the invoice of the call whose client went away")


def test_an_answer_lost_after_commit_is_recovered_with_the_same_idempotency_key(xero: Xero) -> None:
    supplier = xero.contact_id("Swanston Security")
    reference = f"lost-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": f"push-{reference}"}
    body = {"Invoices": [bill(supplier, Reference=reference)]}
    xero.fault(kind="cut_after_commit", count=1, path="/Invoices")
    with pytest.raises(httpx.RemoteProtocolError):
        xero.put("/Invoices", body, headers=key)
    committed = [i for i in xero.state("invoices") if i.get("Reference") == reference]
    assert len(committed) == 1  # the work was done although no answer came
    retried = xero.put("/Invoices", body, headers=key)
    assert retried.status_code == 200
    assert retried.json()["Invoices"][0]["InvoiceID"] == committed[0]["InvoiceID"]
    assert len([i for i in xero.state("invoices") if i.get("Reference") == reference]) == 1
    assert xero.stats()["answers_cut_off"] == 1


def test_revoked_grants_and_expired_refresh_tokens_answer_invalid_grant(xero: Xero) -> None:
    app = connect(xero.info)
    app.fault(kind="expire_refresh_tokens")
    assert app.refresh().json() == {"error": "invalid_grant"}
    assert app.get("/Organisation").status_code == 200  # the access token still works until it expires
    other = connect(xero.info)
    other.fault(kind="revoke_grants")
    assert other.refresh().json() == {"error": "invalid_grant"}
    assert other.get("/Organisation").status_code == 401
    fresh = connect(xero.info)  # a new consent connects again
    assert fresh.get("/Organisation").status_code == 200
    xero.tokens = fresh.tokens


def test_access_tokens_expired_early(xero: Xero) -> None:
    app = connect(xero.info)
    app.fault(kind="expire_access_tokens")
    expired = app.get("/Organisation")
    assert expired.status_code == 401 and expired.json()["Detail"].startswith("TokenExpired")
    app.tokens = app.refresh().json()
    assert app.get("/Organisation").status_code == 200
    xero.tokens = app.tokens


def test_faults_are_described_and_bad_ones_refused(xero: Xero) -> None:
    assert xero.http.post("/_sandbox/faults", json={"kind": "earthquake"}).status_code == 400
    assert xero.http.post("/_sandbox/faults", json={"kind": "error", "status": 404}).status_code == 400
    xero.fault(kind="error", path="/Items")
    assert xero.http.get("/_sandbox/faults").json()["faults"] == [
        {"kind": "error", "path": "/Items", "status": 503, "seconds": 0.0, "problem": "minute", "retry_after": 1}]
    xero.clear_faults()
    assert xero.get("/Items").status_code == 200


def test_an_answer_that_breaks_the_definition_is_a_500_and_is_counted(xero: Xero) -> None:
    broken = next(i for i in xero.state("invoices") if i["Status"] == "DRAFT")
    broken = {**broken, "Totl": 1}  # what a sandbox bug would put in an answer
    url = f"/_sandbox/tenants/{xero.tenant_id}/invoices/{broken['InvoiceID']}"
    xero.http.put(url, json=broken).raise_for_status()
    before = xero.stats()["responses_invalid"]
    answer = xero.get(f"/Invoices/{broken['InvoiceID']}")
    assert answer.status_code == 500
    assert "'Totl' was unexpected" in answer.json()["Detail"]
    assert xero.stats()["responses_invalid"] == before + 1
    del broken["Totl"]
    xero.http.put(url, json=broken).raise_for_status()
    assert xero.get(f"/Invoices/{broken['InvoiceID']}").status_code == 200
