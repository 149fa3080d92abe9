"""Intuit's throttles, enforced per realm and shrunk by the time scale: 429 ThrottleExceeded past 500 calls a
window, past 10 in flight, past the batch limit; and the record a benchmark audits a client with."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.sandboxes.quickbooks.support import Api, control, fault_of, new_company
from tests.support.processes import wait_for

SANDBOX_OPTIONS = {"companies": 1, "time_scale": 10.0}


def stats(info: SandboxInfo) -> dict[str, Any]:
    with control(info) as client:
        return dict(client.get("/stats").json())


def test_the_500th_call_in_a_scaled_window_is_the_last_one_accepted(sandbox: SandboxInfo) -> None:
    realm = new_company(sandbox, name="Busy Co", seed=False)
    api = Api(sandbox, realm)
    quiet = Api(sandbox, sandbox.realm_ids[0])
    assert stats(sandbox)["limits"]["window_seconds"] == 6.0
    throttled: list[httpx.Response] = []
    lock = threading.Lock()

    def hammer(_: int) -> None:
        with httpx.Client(base_url=api.client.base_url, headers=api.headers(), params={"minorversion": "75"}) as client:
            for _ in range(100):
                if throttled:
                    return
                response = client.get("/preferences")
                if response.status_code == 429:
                    with lock:
                        throttled.append(response)
                    return
                assert response.status_code == 200, response.text

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(hammer, range(8)))
        assert throttled, "600+ calls inside one 6 s window were all accepted"
        fault = fault_of(throttled[0])
        assert fault["code"] == "003001" and "ThrottleExceeded" in fault["Message"]
        current = stats(sandbox)
        assert current["peak_in_window"][realm] == 500
        assert current["throttled"][realm]["per_minute"] >= 1
        assert quiet.get("/preferences").status_code == 200, "another realm has its own window"
        with control(sandbox) as client:
            calls = client.get("/calls", params={"realm_id": realm}).json()["calls"]
        assert len(calls) == current["calls"][realm] and {c["path"] for c in calls} == {f"/v3/company/{realm}/preferences"}
        wait_for(lambda: api.get("/preferences").status_code == 200, timeout=15, interval=0.5,
                 what="the 6 s window to slide past the burst")
    finally:
        api.close()
        quiet.close()


def test_the_eleventh_call_in_flight_is_throttled(sandbox: SandboxInfo) -> None:
    realm = new_company(sandbox, name="Parallel Co", seed=False)
    api = Api(sandbox, realm)
    with control(sandbox) as client:
        client.post("/faults", json={"kind": "latency", "seconds_each": 1.5, "count": 10, "realm_id": realm})
    start = threading.Barrier(14)

    def call(_: int) -> int:
        with httpx.Client(base_url=api.client.base_url, headers=api.headers(), params={"minorversion": "75"}, timeout=30) as client:
            start.wait(timeout=10)
            return client.get("/preferences").status_code

    try:
        with ThreadPoolExecutor(14) as pool:
            statuses = list(pool.map(call, range(14)))
        assert sorted(statuses) == [200] * 10 + [429] * 4
        current = stats(sandbox)
        assert current["max_in_flight"][realm] == 10
        assert current["max_in_flight_attempted"][realm] >= 11
        assert current["throttled"][realm] == {"in_flight": 4}
        assert current["in_flight"][realm] == 0
    finally:
        with control(sandbox) as client:
            client.delete("/faults")
        api.close()


def test_batch_requests_have_their_own_limit(sandbox: SandboxInfo) -> None:
    realm = new_company(sandbox, name="Batch Co", seed=False)
    api = Api(sandbox, realm)
    body = {"BatchItemRequest": [{"bId": "1", "Query": "SELECT COUNT(*) FROM Vendor"}]}
    try:
        statuses = [api.post("/batch", body).status_code for _ in range(41)]
        assert statuses == [200] * 40 + [429]
        current = stats(sandbox)
        assert current["throttled"][realm] == {"batch_per_minute_per_app": 1}
        assert current["peak_batch_in_window"][realm] == 40
        assert api.get("/preferences").status_code == 200, "plain calls are still under their own limit"
    finally:
        api.close()
