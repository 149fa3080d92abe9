"""Each fault switch: 5xx for the next calls, added latency, an answer cut off after its write committed,
a 429 storm, and grants revoked or tokens expired early."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandboxes.quickbooks.consent import connect
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.sandboxes.quickbooks.support import Api, control, fault_of
from tests.sandboxes.quickbooks.test_oauth import api_status, refresh
from tests.support.processes import wait_for

VENDOR = {"DisplayName": "Switch Vendor"}


@pytest.fixture
def switches(sandbox: SandboxInfo) -> Iterator[httpx.Client]:
    with control(sandbox) as client:
        yield client
        client.delete("/faults")


@pytest.fixture(scope="module")
def api(sandbox: SandboxInfo) -> Iterator[Api]:
    client = Api(sandbox, sandbox.realm_ids[0])
    yield client
    client.close()


def bills(sandbox: SandboxInfo) -> list[dict[str, Any]]:
    with control(sandbox) as client:
        return list(client.get(f"/companies/{sandbox.realm_ids[0]}/Bill").json()["objects"])


def bill(api: Api) -> dict[str, Any]:
    return {"VendorRef": {"value": "1"}, "Line": [{"Amount": 5, "DetailType": "AccountBasedExpenseLineDetail",
                                                   "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "7"}}}]}


def test_server_errors_for_the_next_matching_calls(sandbox: SandboxInfo, api: Api, switches: httpx.Client) -> None:
    before = len(bills(sandbox))
    switch = switches.post("/faults", json={"kind": "error", "status": 503, "count": 2, "method": "POST", "path_contains": "/bill"})
    assert switch.status_code == 201
    assert api.get("/preferences").status_code == 200
    for _ in range(2):
        response = api.post("/bill", bill(api))
        assert response.status_code == 503 and fault_of(response)["type"] == "SystemFault"
    assert len(bills(sandbox)) == before
    assert api.post("/bill", bill(api)).status_code == 200
    assert switches.get("/faults").json()["faults"][0]["fired"] == 2
    assert switches.post("/faults", json={"kind": "error", "status": 404}).status_code == 400
    assert switches.post("/faults", json={"kind": "explode"}).status_code == 400


def test_added_latency(api: Api, switches: httpx.Client) -> None:
    switches.post("/faults", json={"kind": "latency", "seconds_each": 0.4, "count": 1})
    started = time.monotonic()
    assert api.get("/preferences").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_a_slow_call_whose_client_went_away_is_still_done(sandbox: SandboxInfo, api: Api,
                                                           switches: httpx.Client) -> None:
    """A client killed mid-call (what the fault suite does to a worker) does not undo the call."""
    before = {b["Id"] for b in bills(sandbox)}
    switches.post("/faults", json={"kind": "latency", "seconds_each": 1.0, "count": 1, "path_contains": "/bill"})
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection during the wait
        api.client.post("/bill", json=bill(api), params={"minorversion": "75"}, headers=api.headers(), timeout=0.2)
    wait_for(lambda: len([b for b in bills(sandbox) if b["Id"] not in before]) == 1, timeout=10,
             what="the bill of the call whose client went away")


def test_an_answer_cut_off_after_the_write_committed(sandbox: SandboxInfo, api: Api, switches: httpx.Client) -> None:
    before = {b["Id"] for b in bills(sandbox)}
    switches.post("/faults", json={"kind": "cut_after_commit", "count": 1, "path_contains": "/bill"})
    with pytest.raises(httpx.TransportError):
        api.post("/bill", bill(api), requestid="cut-1")
    created = [b for b in bills(sandbox) if b["Id"] not in before]
    assert len(created) == 1, "the write committed although the answer never arrived"
    replay = api.ok(api.post("/bill", bill(api), requestid="cut-1"))["Bill"]
    assert replay["Id"] == created[0]["Id"]
    assert len(bills(sandbox)) == len(before) + 1
    with control(sandbox) as client:
        assert client.get("/stats").json()["cut_connections"] == 1


def test_a_429_storm(sandbox: SandboxInfo, api: Api, switches: httpx.Client) -> None:
    switches.post("/faults", json={"kind": "throttle", "count": 3})
    statuses = [api.get("/preferences").status_code for _ in range(4)]
    assert statuses == [429, 429, 429, 200]
    assert switches.get("/stats").json()["throttled"][api.realm_id]["fault_switch"] == 3


def test_grant_revoked_and_tokens_expired(sandbox: SandboxInfo, switches: httpx.Client) -> None:
    realm = sandbox.realm_ids[0]
    tokens = connect(sandbox, realm)
    assert switches.post("/faults", json={"kind": "expire_access_tokens", "realm_id": realm}).json()["affected"] >= 1
    assert api_status(sandbox, realm, tokens) == 401
    renewed = refresh(sandbox, tokens["refresh_token"]).json()
    assert api_status(sandbox, realm, renewed) == 200
    switches.post("/faults", json={"kind": "expire_refresh_tokens"})
    assert refresh(sandbox, renewed["refresh_token"]).json() == {"error": "invalid_grant"}
    assert api_status(sandbox, realm, renewed) == 200, "the access token lives on"
    fresh = connect(sandbox, realm)
    switches.post("/faults", json={"kind": "revoke_grant", "realm_id": realm})
    assert refresh(sandbox, fresh["refresh_token"]).json() == {"error": "invalid_grant"}
    assert api_status(sandbox, realm, fresh) == 401
    assert api_status(sandbox, realm, connect(sandbox, realm)) == 200, "a new consent makes a new grant"
