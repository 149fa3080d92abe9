"""Authorization and throttling on the local QuickBooks: an expired access token refreshed once, a refused refresh
token saying "reconnect QuickBooks", revocation, the five-year hard cap kept and warned about, and Intuit's 429
holding the realm back through the shared limiter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from providers.errors import AuthenticationError, RateLimited, RetryableError
from providers.quickbooks import app as qb_app
from providers.quickbooks.limits import QUICKBOOKS, QUICKBOOKS_BATCH
from providers.ratelimit import SharedRateLimiter, shared_store
from sandboxes.quickbooks.sandbox import SandboxInfo, start_sandbox, stop_sandbox
from tests.conftest_quickbooks import QuickBooksRaw
from tests.providers.quickbooks.support import Books
from tests.support.env import booksync_env


@pytest.fixture(autouse=True)
def _no_faults_left(quickbooks_raw: QuickBooksRaw) -> Iterator[None]:
    yield
    quickbooks_raw.clear_faults()


def company(info: SandboxInfo, raw: QuickBooksRaw, name: str) -> Books:
    return Books(info, raw.new_company(name, country="US", seed=False))


def test_an_expired_access_token_is_refreshed_once_and_the_call_made_again(
    quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw
) -> None:
    books = company(quickbooks_sandbox, quickbooks_raw, "Refresh Inc")
    quickbooks_raw.fault(kind="expire_access_tokens", realm_id=books.realm_id)
    before = books.store.current
    with books.provider() as provider:
        assert provider.check().organization_name == "Refresh Inc"
        assert provider.check().organization_name == "Refresh Inc"
    assert books.store.refreshes == 1
    after = books.store.current
    assert before is not None and after is not None
    assert after["refresh_token"] != before["refresh_token"], "the rotated refresh token is what is kept"
    assert after["extra"][qb_app.HARD_EXPIRES_AT] and after["refresh_expires_at"]
    ends, hard = qb_app.authorization_ends(after)
    assert ends is not None and not hard and ends - dt.datetime.now(dt.UTC) > dt.timedelta(days=99)


def test_a_refused_refresh_token_says_reconnect_quickbooks(
    quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw
) -> None:
    books = company(quickbooks_sandbox, quickbooks_raw, "Lapsed Inc")
    quickbooks_raw.fault(kind="expire_access_tokens", realm_id=books.realm_id)
    quickbooks_raw.fault(kind="expire_refresh_tokens", realm_id=books.realm_id)
    with books.provider() as provider, pytest.raises(AuthenticationError) as caught:
        provider.check()
    assert "invalid_grant" in caught.value.message and "reconnect QuickBooks" in caught.value.message
    secret = books.company.token.refresh_token or ""
    assert secret not in caught.value.message and secret not in repr(caught.value.to_errors())


def test_revoking_ends_the_grant_and_is_safe_to_repeat(
    quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw
) -> None:
    books = company(quickbooks_sandbox, quickbooks_raw, "Leaving Inc")
    with books.provider() as provider:
        assert provider.supports_revoke
        provider.revoke()
        provider.revoke()
        with pytest.raises(AuthenticationError):
            provider.check()
    refused = httpx.post(quickbooks_sandbox.token_endpoint, auth=(quickbooks_sandbox.client_id,
                                                                  quickbooks_sandbox.client_secret),
                         data={"grant_type": "refresh_token", "refresh_token": books.company.token.refresh_token})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_429_holds_the_realm_back_for_every_worker(
    quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw, redis_url: str
) -> None:
    books = company(quickbooks_sandbox, quickbooks_raw, "Throttled Inc")
    store = shared_store(redis_url)
    realm = SharedRateLimiter(QUICKBOOKS, store, max_wait=1.0)
    batch = SharedRateLimiter(QUICKBOOKS_BATCH, store, max_wait=1.0)
    quickbooks_raw.fault(kind="throttle", realm_id=books.realm_id, count=1)
    with books.provider(rate_limiter=realm, batch_rate_limiter=batch) as provider:
        with pytest.raises(RetryableError) as throttled:
            provider.check()
        assert "ThrottleExceeded" in throttled.value.message and throttled.value.retry_after == 60.0
        with pytest.raises(RateLimited) as held:
            provider.check()
    assert held.value.retry_after is not None and 55 < held.value.retry_after <= 60
    budget = realm.budget(f"quickbooks:{books.realm_id}")
    assert budget["blocked_until"] is not None and budget["concurrency"] == 10
    assert quickbooks_raw.stats()["throttled"][books.realm_id] == {"fault_switch": 1}, "one 429, not a storm"


# -- the five-year cap, on a local QuickBooks of its own (its clock moves years) ------------------------------


@pytest.fixture(scope="module")
def aging_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    directory: Path = tmp_path_factory.mktemp("quickbooks-aging")
    info = start_sandbox(directory, companies=0)
    try:
        yield info
    finally:
        stop_sandbox(directory)


def test_the_hard_cap_comes_with_each_refresh_and_a_warning_before_it(aging_sandbox: SandboxInfo) -> None:
    raw = QuickBooksRaw(aging_sandbox)
    books = Books(aging_sandbox, raw.new_company("Five Years Inc", country="US", seed=False))
    with booksync_env(quickbooks_authorization_warning_days="30"), books.provider() as provider:
        assert provider.warnings() == []
        for _ in range(20):  # a refresh every 90 days (within the rolling 100) for 1,800 days
            raw.advance_clock(90 * 86_400)
            provider.check()
        assert books.store.refreshes == 20
        ends, hard = qb_app.authorization_ends(provider.credentials)
        assert hard and ends is not None
        # 1,825 days' cap less 1,800 gone by: 25 left (here, where the clock did not move, 25 days from now)
        assert dt.timedelta(days=24) < ends - dt.datetime.now(dt.UTC) < dt.timedelta(days=26)
        (warning,) = provider.warnings()
    assert "five years" in warning and "reconnect QuickBooks Online" in warning
    raw.advance_clock(40 * 86_400)
    with books.provider() as provider, pytest.raises(AuthenticationError) as caught:
        provider.check()
    assert "reconnect QuickBooks" in caught.value.message
    raw.close()
