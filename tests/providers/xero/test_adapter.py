"""The Xero adapter against the local Xero: batches, retries after lost answers, tokens, revocation, limits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from config.secrets import Credentials
from providers.errors import AuthenticationError, DataError, RetryableError
from providers.oauth import LocalCredentialStore
from providers.types import DocumentKind, LineItem, OutgoingCounterpart, OutgoingDocument, PushRequest
from providers.xero import XeroProvider
from sandboxes.xero.sandbox import SandboxInfo
from tests.conftest_xero import SOURCE_URL, xero_limiter, XeroRaw, XeroTenant, expired, xero_app


class Recorder(httpx.BaseTransport):
    """Forwards every request and keeps (method, path, Idempotency-Key) of each."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[tuple[str, str, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, request.headers.get("Idempotency-Key")))
        return self.inner.handle_request(request)

    def writes(self, path: str = "/invoices") -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] in ("PUT", "POST") and r[1].lower().endswith(path)]


@pytest.fixture(scope="module")
def tenant(xero_raw: XeroRaw) -> XeroTenant:
    return xero_raw.new_tenant("Adapter Organisation")


@pytest.fixture(scope="module")
def store(tenant: XeroTenant) -> LocalCredentialStore:
    return LocalCredentialStore(tenant.credentials)


def make_provider(info: SandboxInfo, tenant: XeroTenant, store: LocalCredentialStore, *,
                  transport: httpx.BaseTransport | None = None, **settings: object) -> XeroProvider:
    assert store.current is not None
    return XeroProvider({**tenant.settings, **settings}, store.current, credential_store=store,
                        transport=transport or httpx.HTTPTransport(), rate_limiter=xero_limiter(), app=xero_app(info),
                        api_url=info.api_url, source_url=SOURCE_URL)


@pytest.fixture
def provider(xero_sandbox: SandboxInfo, tenant: XeroTenant, store: LocalCredentialStore) -> Iterator[XeroProvider]:
    with make_provider(xero_sandbox, tenant, store) as instance:
        yield instance


@pytest.fixture(autouse=True)
def _no_faults(xero_raw: XeroRaw) -> Iterator[None]:
    yield
    xero_raw.clear_faults()


def supplier(raw: XeroRaw, tenant: XeroTenant) -> str:
    return next(c["ContactID"] for c in raw.state(tenant.tenant_id, "contacts") if c["ContactStatus"] == "ACTIVE")


def bill(contact_id: str, *, number: str | None = None, tax: int | None = 2000, quantity: str = "2",
         unit_price: int = 12_345) -> OutgoingDocument:
    return OutgoingDocument(
        kind=DocumentKind.PAYABLE, id=str(uuid.uuid4()), counterpart_platform_id=contact_id, currency="GBP",
        document_number=number or f"B-{uuid.uuid4().hex[:8]}", issue_date=dt.date(2026, 11, 30),
        due_date=dt.date(2026, 12, 30),
        lines=(LineItem(description="Desk", quantity=Decimal(quantity), unit_price=unit_price, tax_rate_value=tax),),
    )


def invoices_numbered(raw: XeroRaw, tenant: XeroTenant, number: str) -> list[dict[str, object]]:
    return [i for i in raw.state(tenant.tenant_id, "invoices") if i.get("InvoiceNumber") == number]


# -- batches ------------------------------------------------------------------------------------


def test_one_invalid_invoice_is_its_own_data_error_and_the_rest_of_the_batch_is_written(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    contact = supplier(xero_raw, tenant)
    good = [bill(contact) for _ in range(3)]
    bad = dataclasses.replace(bill(contact), counterpart_platform_id=str(uuid.uuid4()))  # Xero has no such contact
    requests = [PushRequest(good[0], f"g0-{uuid.uuid4()}"), PushRequest(bad, f"bad-{uuid.uuid4()}"),
                PushRequest(good[1], f"g1-{uuid.uuid4()}"), PushRequest(good[2], f"g2-{uuid.uuid4()}")]
    recorder = Recorder(httpx.HTTPTransport())
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        outcomes = {o.key: o for o in provider.push_documents(requests)}
    assert len(recorder.writes()) == 1, "one call for the whole batch"
    failed = outcomes[requests[1].key]
    assert failed.result is None and isinstance(failed.error, DataError)
    assert failed.error.field == "counterpart_platform_id"
    assert "does not exist" in failed.error.message
    for request in (requests[0], requests[2], requests[3]):
        outcome = outcomes[request.key]
        assert outcome.error is None and outcome.result is not None and outcome.result.created
        assert outcome.result.totals is not None and outcome.result.totals.total_amount == 29_628
        assert len(invoices_numbered(xero_raw, tenant, request.item.document_number or "")) == 1
    assert invoices_numbered(xero_raw, tenant, bad.document_number or "") == []


def test_a_tax_rate_xero_lacks_fails_that_document_before_anything_is_sent(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    contact = supplier(xero_raw, tenant)
    fine, wrong = bill(contact), bill(contact, tax=1234)
    outcomes = list(provider.push_documents([PushRequest(wrong, "wrong-rate"), PushRequest(fine, f"f-{uuid.uuid4()}")]))
    assert isinstance(outcomes[0].error, DataError) and outcomes[0].error.field == "lines[0].tax_rate_value"
    assert "tax rate 12.34% does not exist in the accounting system" in outcomes[0].error.message
    assert outcomes[1].result is not None and outcomes[1].result.created


def test_a_batch_retried_after_its_answer_was_cut_off_creates_nothing_twice(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    """The local Xero commits the batch and closes the connection without an answer (its fault switch)."""
    contact = supplier(xero_raw, tenant)
    documents = [bill(contact) for _ in range(3)]
    keys = [f"cut-{uuid.uuid4()}" for _ in documents]
    xero_raw.fault(kind="cut_after_commit", method="POST", path="/Invoices", count=1)
    with pytest.raises(RetryableError):
        list(provider.push_documents([PushRequest(d, k) for d, k in zip(documents, keys, strict=True)]))
    assert xero_raw.stats()["answers_cut_off"] >= 1
    assert all(len(invoices_numbered(xero_raw, tenant, d.document_number or "")) == 1 for d in documents)
    # The engine retries with may_exist (the answer was lost): the same request, byte for byte.
    retried = list(provider.push_documents([PushRequest(d, k, may_exist=True)
                                            for d, k in zip(documents, keys, strict=True)]))
    assert [o.error for o in retried] == [None, None, None]
    assert all(len(invoices_numbered(xero_raw, tenant, d.document_number or "")) == 1 for d in documents)
    first_ids = {i["InvoiceID"] for d in documents for i in invoices_numbered(xero_raw, tenant, d.document_number or "")}
    assert {o.result.platform_id for o in retried if o.result} == first_ids


def test_a_retry_with_changed_documents_finds_what_the_first_attempt_created(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    contact = supplier(xero_raw, tenant)
    first = [bill(contact), bill(contact)]
    keys = [f"chg-{uuid.uuid4()}" for _ in first]
    recorder = Recorder(httpx.HTTPTransport())
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        created = list(provider.push_documents([PushRequest(d, k) for d, k in zip(first, keys, strict=True)]))
        changed = [dataclasses.replace(d, lines=bill(contact, quantity="3").lines) for d in first]
        retried = list(provider.push_documents([PushRequest(d, k, may_exist=True)
                                                for d, k in zip(changed, keys, strict=True)]))
    writes = recorder.writes()
    assert len(writes) == 2 and writes[0][2] != writes[1][2], "a different request carries a different key"
    assert [o.result.platform_id for o in retried if o.result] == [o.result.platform_id for o in created if o.result]
    assert not any(o.result.created for o in retried if o.result)
    for document in first:
        (held,) = invoices_numbered(xero_raw, tenant, document.document_number or "")
        assert Decimal(str(held["SubTotal"])) == Decimal("370.35")  # the change arrived: 3 x 123.45


def test_the_idempotency_key_is_the_same_on_a_retry_of_the_same_request(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    contact = supplier(xero_raw, tenant)
    document, key = bill(contact), f"same-{uuid.uuid4()}"
    recorder = Recorder(httpx.HTTPTransport())
    replays = xero_raw.stats().get("idempotent_replays", 0)
    with make_provider(xero_sandbox, tenant, store, transport=recorder) as provider:
        provider.push_documents([PushRequest(document, key)]).__next__()
        provider.push_documents([PushRequest(document, key)]).__next__()
    (_, _, first), (_, _, second) = recorder.writes()
    assert first and first == second and len(first) <= 128
    assert xero_raw.stats()["idempotent_replays"] == replays + 1
    assert len(invoices_numbered(xero_raw, tenant, document.document_number or "")) == 1


def test_only_drafts_change_and_voiding_follows_xero(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    contact = supplier(xero_raw, tenant)
    with make_provider(xero_sandbox, tenant, store, post_documents=True) as provider:
        approved = provider.push_document(bill(contact), f"ap-{uuid.uuid4()}", None)
        assert provider.get_document(DocumentKind.PAYABLE, approved.platform_id).status == "open"
        provider.void_document(DocumentKind.PAYABLE, approved.platform_id)
    (held,) = [i for i in xero_raw.state(tenant.tenant_id, "invoices") if i["InvoiceID"] == approved.platform_id]
    assert held["Status"] == "VOIDED"


def test_counterparts_are_found_by_their_contact_number_and_namesakes_adopted(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    name = f"Supplier {uuid.uuid4().hex[:6]}"
    body = {"Contacts": [{"Name": name}]}
    response = xero_raw.api(tenant, "PUT", "/Contacts", json=body)
    response.raise_for_status()
    namesake = response.json()["Contacts"][0]["ContactID"]
    fresh = OutgoingCounterpart(id="c1", name=f"New {uuid.uuid4().hex[:6]}", is_customer=False, is_vendor=True,
                                email="ap@example.com")
    adopted = OutgoingCounterpart(id="c2", name=name, is_customer=False, is_vendor=True)
    keys = [f"cp-{uuid.uuid4()}", f"cp-{uuid.uuid4()}"]
    outcomes = list(provider.push_counterparts([PushRequest(fresh, keys[0]), PushRequest(adopted, keys[1])]))
    assert outcomes[0].result is not None and outcomes[0].result.created
    assert outcomes[1].result is not None and outcomes[1].result.platform_id == namesake
    assert not outcomes[1].result.created
    contacts = {c["ContactID"]: c for c in xero_raw.state(tenant.tenant_id, "contacts")}
    assert contacts[namesake]["ContactNumber"] == f"booksync:{keys[1]}"
    again = list(provider.push_counterparts([PushRequest(fresh, keys[0]), PushRequest(adopted, keys[1])]))
    assert [o.result.platform_id for o in again if o.result] == [o.result.platform_id for o in outcomes if o.result]
    assert len(xero_raw.state(tenant.tenant_id, "contacts")) == len(contacts)


# -- pulls ---------------------------------------------------------------------------------------


def test_deleted_and_voided_invoices_come_in_the_pull_as_void_and_leave_the_id_list(
    xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider
) -> None:
    _, cursor = _pull(provider, None)
    draft = provider.push_document(bill(supplier(xero_raw, tenant)), f"del-{uuid.uuid4()}", None)
    provider.void_document(DocumentKind.PAYABLE, draft.platform_id)  # a draft is DELETED at Xero
    documents, cursor = _pull(provider, cursor)
    assert [(d.platform_id, d.status) for d in documents] == [(draft.platform_id, "void")]
    assert draft.platform_id not in set(provider.iter_document_ids(DocumentKind.PAYABLE))


def test_the_pull_lag_reads_recent_changes_again(xero_raw: XeroRaw, tenant: XeroTenant, provider: XeroProvider) -> None:
    _, cursor = _pull(provider, None)
    pushed = provider.push_document(bill(supplier(xero_raw, tenant)), f"lag-{uuid.uuid4()}", None)
    documents, cursor = _pull(provider, cursor)
    assert [d.platform_id for d in documents] == [pushed.platform_id]
    assert _pull(provider, cursor)[0] == []
    again = [d for page in provider.iter_documents(DocumentKind.PAYABLE, cursor, lag_seconds=300) for d in page.items]
    assert pushed.platform_id in {d.platform_id for d in again}


def _pull(provider: XeroProvider, cursor: str | None) -> tuple[list, str | None]:  # type: ignore[type-arg]
    documents = []
    for page in provider.iter_documents(DocumentKind.PAYABLE, cursor):
        documents.extend(page.items)
        cursor = page.next_cursor
    return documents, cursor


# -- tokens, limits, revocation --------------------------------------------------------------------


def test_a_stale_access_token_is_refreshed_first_and_the_rotation_stored(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw
) -> None:
    own = xero_raw.new_tenant("Refreshing Organisation", seed=False)
    stale = expired(own.token).to_credentials()
    store = LocalCredentialStore(stale)
    issued = xero_raw.stats()["tokens_issued"]
    with XeroProvider(own.settings, stale, credential_store=store, rate_limiter=xero_limiter(), app=xero_app(xero_sandbox),
                      api_url=xero_sandbox.api_url, source_url=SOURCE_URL) as provider:
        assert provider.check().books_id == f"xero:{own.tenant_id}"
        provider.check()
    assert store.refreshes == 1 and xero_raw.stats()["tokens_issued"] == issued + 1
    assert store.current is not None and store.current["refresh_token"] != own.token.refresh_token
    assert provider.limits_remaining["minute_remaining"] >= 0 and "day_remaining" in provider.limits_remaining


def test_an_invalid_grant_is_an_authentication_error_that_says_reconnect_xero(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw
) -> None:
    own = xero_raw.new_tenant("Revoked Organisation", seed=False)
    stale = expired(own.token).to_credentials()
    with XeroProvider(own.settings, stale, rate_limiter=xero_limiter(), app=xero_app(xero_sandbox), api_url=xero_sandbox.api_url,
                      source_url=SOURCE_URL) as provider:
        provider.revoke()  # disconnect: the refresh token (and its grant) revoked at Xero
        with pytest.raises(AuthenticationError) as caught:
            provider.check()
    assert "reconnect Xero" in caught.value.message and "invalid_grant" in caught.value.message
    assert own.token.refresh_token not in repr(caught.value.to_errors())


def test_a_401_refreshes_once_and_repeats_the_call(xero_sandbox: SandboxInfo, xero_raw: XeroRaw) -> None:
    own = xero_raw.new_tenant("Expiring Organisation", seed=False)
    store = LocalCredentialStore(own.credentials)
    with XeroProvider(own.settings, own.credentials, credential_store=store, rate_limiter=xero_limiter(), app=xero_app(xero_sandbox),
                      api_url=xero_sandbox.api_url, source_url=SOURCE_URL) as provider:
        xero_raw.fault(kind="expire_access_tokens")
        assert provider.check().organization_name == "Expiring Organisation"
    assert store.refreshes == 1


def test_a_429_is_retryable_with_xeros_retry_after(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    """The adapter's reading of a 429 (the shared limiter's penalty for it is tested in test_ratelimit: here
    it would hold this module's tenant back for the next tests)."""
    from providers.http import NoRateLimit

    xero_raw.fault(kind="rate_limit_storm", count=1, problem="minute", retry_after=7)
    with XeroProvider(tenant.settings, store.current, credential_store=store, rate_limiter=NoRateLimit(),
                      app=xero_app(xero_sandbox), api_url=xero_sandbox.api_url, source_url=SOURCE_URL) as provider, \
            pytest.raises(RetryableError) as caught:
        provider.check()
    assert caught.value.retry_after == 7 and caught.value.details["problem"] == "minute"


# -- wrong-shaped answers ---------------------------------------------------------------------------

WRONG_ANSWERS = [
    ("/Organisation", {"Organisations": {"Name": "not a list"}}, "Organisations"),
    ("/Organisation", {"Organisations": []}, "Organisations"),
    ("/Organisation", {"Organisations": [{"Name": None, "OrganisationID": "x"}]}, "Name"),
    ("/Organisation", [1, 2, 3], "the answer"),
    ("/Organisation", None, "GET Organisation"),
    ("/Invoices", {"Invoices": [{"InvoiceID": "x", "Total": "lots"}]}, "Total"),
    ("/Invoices", {"Invoices": None}, "Invoices"),
]


@pytest.mark.parametrize(("path", "answer", "named"), WRONG_ANSWERS)
def test_a_wrong_shaped_answer_is_one_clear_provider_error(path: str, answer: object, named: str) -> None:
    """The local Xero never answers like this (it checks its answers), so a stand-in does."""

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(path):
            return httpx.Response(200, content=b"" if answer is None else json.dumps(answer).encode())
        return httpx.Response(200, json={"TaxRates": [], "Accounts": []})

    credentials = Credentials(access_token="a-token", refresh_token="r", expires_at=(
        dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat())
    tenant = str(uuid.uuid4())
    with XeroProvider({"tenant_id": tenant}, credentials, transport=httpx.MockTransport(respond),
                      rate_limiter=xero_limiter(), app=xero_app(_FAKE_INFO), api_url="http://127.0.0.1:9/api.xro/2.0",
                      source_url=SOURCE_URL) as provider:
        from providers.errors import ProviderError

        with pytest.raises(ProviderError) as caught:
            if path == "/Organisation":
                provider.check()
            else:
                list(provider.iter_documents(DocumentKind.PAYABLE, None))
    assert type(caught.value) is ProviderError
    assert "Xero" in caught.value.message and named in caught.value.message


_FAKE_INFO = SandboxInfo(url="http://127.0.0.1:9", client_id="id", client_secret="secret", pid=0, port=9,
                         directory="/nonexistent")


def test_documents_written_in_one_call_share_a_timestamp_and_each_is_pulled_once(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: XeroTenant, store: LocalCredentialStore
) -> None:
    with make_provider(xero_sandbox, tenant, store, transport=httpx.HTTPTransport()) as provider:
        _, cursor = _pull(provider, None)
        contact = supplier(xero_raw, tenant)
        pushed = list(provider.push_documents([PushRequest(bill(contact), f"same-ms-{i}-{uuid.uuid4()}")
                                               for i in range(5)]))
    ids = {o.result.platform_id for o in pushed if o.result}
    assert len({o.result.platform_updated_at for o in pushed if o.result}) == 1
    with XeroProvider({**tenant.settings}, store.current, credential_store=store,  # type: ignore[arg-type]
                      rate_limiter=xero_limiter(), app=xero_app(xero_sandbox), api_url=xero_sandbox.api_url, source_url=SOURCE_URL,
                      page_size=2) as paged:
        pages = list(paged.iter_documents(DocumentKind.PAYABLE, cursor))
    pulled = [d.platform_id for page in pages for d in page.items]
    assert sorted(pulled) == sorted(ids), "each once, none lost at the page boundaries"
