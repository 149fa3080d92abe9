"""Wrong-shaped answers end in one clear ``ProviderError`` naming the answer and the field, never an AttributeError.

The local QuickBooks cannot send these (it validates every answer against Intuit's schema before it leaves), so
a stand-in transport answers them: what QuickBooks would say to the same calls, broken in one place each.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from providers.errors import DataError, ProviderError
from providers.http import NoRateLimit
from providers.oauth import TokenSet
from providers.quickbooks import QuickBooksProvider
from providers.types import DocumentKind, PushRequest
from tests.providers.quickbooks.support import document, key, line

REALM = "9130000000000001"
META = {"CreateTime": "2026-03-01T10:00:00-08:00", "LastUpdatedTime": "2026-03-01T10:00:00-08:00"}
BILL = {"Id": "1", "SyncToken": "0", "MetaData": META, "TotalAmt": 10, "Balance": 10,
        "VendorRef": {"value": "1", "name": "V"}, "Line": []}
COMPANY = {"CompanyInfo": {"CompanyName": "Shape Inc", "Country": "GB"}}
PREFERENCES = {"Preferences": {"CurrencyPrefs": {"HomeCurrency": {"value": "USD"}}}}


def provider(answer: Callable[[httpx.Request], Any]) -> QuickBooksProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        body = answer(request)
        if isinstance(body, httpx.Response):
            return body
        return httpx.Response(200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    token = TokenSet("access", "refresh", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    return QuickBooksProvider({"realm_id": REALM}, token.to_credentials(), transport=httpx.MockTransport(handler),
                              api_url="http://127.0.0.1:9", rate_limiter=NoRateLimit(),
                              batch_rate_limiter=NoRateLimit())


def queries(**entities: Any) -> Callable[[httpx.Request], Any]:
    """Answers queries with ``QueryResponse`` bodies by entity; company info and preferences as a UK company."""

    def answer(request: httpx.Request) -> Any:
        path = request.url.path
        if path.endswith(f"/companyinfo/{REALM}"):
            return COMPANY
        if path.endswith("/preferences"):
            return PREFERENCES
        if path.endswith("/query"):
            entity = request.content.decode().split(" FROM ")[1].split()[0]
            return {"QueryResponse": entities.get(entity, {}), "time": "2026-03-01T10:00:00.000-08:00"}
        return entities.get("write", {})

    return answer


@pytest.mark.parametrize(("answer", "expect"), [
    ({"Bill": [BILL]}, "GET Bill 1 is not an object (it is a list)"),
    ({"Bill": {**BILL, "TotalAmt": None}}, "Transaction.TotalAmt is wrong"),
    ({"Bill": {k: v for k, v in BILL.items() if k != "MetaData"}}, "Transaction.MetaData is missing"),
    ({"Bill": {**BILL, "Line": [{"Amount": 1}]}}, "Transaction.Line.0.DetailType is missing"),
    ({"Bill": {**BILL, "MetaData": "yesterday"}}, "Transaction.MetaData is wrong"),
    ({"Bill": {**BILL, "MetaData": {"LastUpdatedTime": "yesterday"}}}, "Transaction.MetaData.LastUpdatedTime is wrong"),
    ([BILL], "GET Bill 1 is not an object (it is a list)"),
])
def test_a_wrong_document_is_one_provider_error(answer: Any, expect: str) -> None:
    with provider(lambda request: answer) as broken, pytest.raises(ProviderError) as caught:
        broken.get_document(DocumentKind.PAYABLE, "1")
    assert type(caught.value) is ProviderError and expect in caught.value.message
    assert caught.value.message.startswith("QuickBooks Online's answer to GET Bill 1")


@pytest.mark.parametrize(("response", "expect"), [
    (None, "has no QueryResponse"),
    ({"Bill": {"Id": "1"}}, "has an object where a list belongs"),
    ({"Bill": [BILL, None]}, "[1] is not an object (it is null)"),
    ({"Bill": [{**BILL, "Id": None}]}, "Transaction.Id is wrong"),
])
def test_a_wrong_query_answer_is_one_provider_error(response: Any, expect: str) -> None:
    def answer(request: httpx.Request) -> Any:
        if request.url.path.endswith("/query") and b"FROM Bill" in request.content:
            return {"QueryResponse": response, "time": "2026-03-01T10:00:00.000-08:00"}
        return queries(TaxCode={}, TaxRate={})(request)

    with provider(answer) as broken, pytest.raises(ProviderError) as caught:
        list(broken.iter_documents(DocumentKind.PAYABLE, None))
    assert type(caught.value) is ProviderError and expect in caught.value.message


def test_wrong_reference_data_and_bodies_that_are_not_json_are_provider_errors() -> None:
    with provider(lambda request: {"CompanyInfo": {"Country": "GB"}}) as broken, pytest.raises(ProviderError) as info:
        broken.check()
    assert "CompanyInfo.CompanyName is missing" in info.value.message
    with provider(lambda request: httpx.Response(200, content=b"<html>maintenance</html>")) as broken, \
            pytest.raises(ProviderError) as html:
        broken.check()
    assert html.value.message == "QuickBooks Online's answer to GET CompanyInfo is not JSON"
    codes = queries(TaxCode={"TaxCode": [{"Id": "1", "Name": "S", "SalesTaxRateList": []}]}, TaxRate={})
    with provider(codes) as broken, pytest.raises(ProviderError) as tax:
        list(broken.list_tax_rates())
    assert "TaxCode.SalesTaxRateList is wrong" in tax.value.message


def test_a_wrong_batch_answer_is_one_provider_error() -> None:
    lookups = queries(TaxCode={"TaxCode": [{"Id": "1", "Name": "S"}]}, TaxRate={},
                      Account={"Account": [{"Id": "7", "Name": "Office", "AccountType": "Expense"}]},
                      write={"time": "2026-03-01T10:00:00.000-08:00"})
    two = [PushRequest(document(DocumentKind.PAYABLE, "1", line()), key()) for _ in range(2)]
    with provider(lookups) as broken, pytest.raises(ProviderError) as caught:
        list(broken.push_documents(two))
    assert "batch of 2 has no BatchItemResponse list" in caught.value.message
    items = queries(TaxCode={}, TaxRate={}, Account={"Account": [{"Id": "7", "Name": "Office", "AccountType": "Expense"}]},
                    write={"BatchItemResponse": [{"bId": "0", "Bill": BILL}, {"bId": "1", "Vendor": {}}]})
    with provider(items) as broken, pytest.raises(ProviderError) as item:
        list(broken.push_documents(two))
    assert "item 1 without a Bill or a Fault" in item.value.message


def test_a_refusal_without_a_readable_fault_is_still_a_data_error() -> None:
    def refuse(request: httpx.Request) -> Any:
        if request.url.path.endswith("/bill"):
            return httpx.Response(400, content=b'{"Fault": "no"}', headers={"Content-Type": "application/json"})
        return queries(TaxCode={}, TaxRate={}, Account={"Account": [{"Id": "7", "Name": "O", "AccountType": "Expense"}]},
                       Bill={})(request)

    with provider(refuse) as broken, pytest.raises(DataError) as caught:
        broken.push_document(document(DocumentKind.PAYABLE, "1", line()), key(), None)
    assert "(HTTP 400)" in caught.value.message
