"""The JSON-to-XSD validator: valid QuickBooks bodies pass, each kind of mistake is rejected naming its element."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from sandboxes.quickbooks import validation
from sandboxes.quickbooks.validation import (
    CachedEntityValidator, SchemaValidationError, to_xmlschema_dict, validate_batch_request, validate_entity,
    validate_response,
)


@pytest.fixture(autouse=True, params=["xmlschema", "fast", "both"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every case in each mode: xmlschema alone, libxml2 first, and both cross-checked."""
    validation.set_mode(request.param)
    yield str(request.param)
    validation.set_mode("xmlschema")

TIME = "2026-01-15T10:00:00.123-08:00"
BILL: dict[str, Any] = {
    "VendorRef": {"value": "56", "name": "Bob's Burger Joint"},
    "TxnDate": "2026-01-15",
    "DueDate": "2026-02-14",
    "CurrencyRef": {"value": "USD"},
    "Line": [{"Amount": 200.0, "DetailType": "AccountBasedExpenseLineDetail",
              "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "7", "name": "Office Expenses"}}}],
}
INVOICE: dict[str, Any] = {
    "Id": "130", "SyncToken": "0", "domain": "QBO", "sparse": False,
    "MetaData": {"CreateTime": "2026-01-15T10:00:00-08:00", "LastUpdatedTime": "2026-01-15T10:00:00-08:00"},
    "CustomerRef": {"value": "1"},
    "Line": [
        {"Id": "1", "LineNum": 1, "Amount": 100.0, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}, "Qty": 2, "UnitPrice": 50,
                                 "TaxCodeRef": {"value": "TAX"}}},
        {"Amount": 100.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
    ],
    "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}, "TotalTax": 8, "TaxLine": [
        {"Amount": 8, "DetailType": "TaxLineDetail",
         "TaxLineDetail": {"TaxRateRef": {"value": "3"}, "PercentBased": True, "TaxPercent": 8, "NetAmountTaxable": 100}}]},
    "TotalAmt": 108, "Balance": 108,
}


def test_a_valid_bill_and_invoice_pass() -> None:
    validate_entity("Bill", BILL)
    validate_entity("Invoice", INVOICE)


def _rejected(entity: str, body: dict[str, Any]) -> SchemaValidationError:
    with pytest.raises(SchemaValidationError) as caught:
        validate_entity(entity, body)
    return caught.value


def test_a_misspelled_field_is_named_by_its_path() -> None:
    error = _rejected("Bill", {**BILL, "VendorRefs": {"value": "56"}})
    assert error.element == "Bill.VendorRefs"
    nested = copy.deepcopy(BILL)
    nested["Line"][0]["AccountBasedExpenseLineDetail"]["AcountRef"] = {"value": "7"}
    assert _rejected("Bill", nested).element == "Bill.Line[0].AccountBasedExpenseLineDetail.AcountRef"


def test_a_malformed_date_is_rejected_naming_the_element() -> None:
    error = _rejected("Bill", {**BILL, "TxnDate": "2026-02-30"})
    assert error.element == "TxnDate"
    assert _rejected("Bill", {**BILL, "DueDate": "15/01/2026"}).element == "DueDate"


def test_a_wrong_detail_type_is_rejected() -> None:
    body = copy.deepcopy(BILL)
    body["Line"][0]["DetailType"] = "AccountBasedExpenseDetail"
    error = _rejected("Bill", body)
    assert error.element == "DetailType"
    assert "AccountBasedExpenseLineDetail" in error.reason


def test_a_non_decimal_amount_is_rejected() -> None:
    body = copy.deepcopy(BILL)
    body["Line"][0]["Amount"] = "12,50"
    assert _rejected("Bill", body).element == "Amount"
    assert _rejected("Bill", {**BILL, "TotalAmt": True}).element == "Bill.TotalAmt"


def test_json_forms_that_differ_from_xml() -> None:
    assert _rejected("Bill", {**BILL, "VendorRef": "56"}).element == "Bill.VendorRef"
    assert _rejected("Bill", {**BILL, "VendorRef": [{"value": "56"}]}).element == "Bill.VendorRef"
    assert _rejected("Bill", {**BILL, "VendorRef": {"value": "56", "nam": "x"}}).element == "Bill.VendorRef.nam"
    mapped = to_xmlschema_dict("Bill", {**BILL, "sparse": True})
    assert mapped["VendorRef"] == {"$": "56", "@name": "Bob's Burger Joint"}
    assert mapped["@sparse"] is True
    assert isinstance(mapped["Line"], list)
    validate_entity("Bill", {**BILL, "PrivateNote": None})


def test_answers_are_checked_as_intuit_responses() -> None:
    validate_response({"Invoice": INVOICE, "time": TIME})
    validate_response({"QueryResponse": {"Invoice": [INVOICE, INVOICE], "startPosition": 1, "maxResults": 2}, "time": TIME})
    validate_response({"QueryResponse": {"totalCount": 5}, "time": TIME})
    validate_response({"Fault": {"Error": [{"Message": "Stale Object Error", "Detail": "...", "code": "5010", "element": ""}],
                                 "type": "ValidationFault"}, "time": TIME})
    deleted = {"domain": "QBO", "status": "Deleted", "Id": "3", "MetaData": {"LastUpdatedTime": "2026-01-15T10:00:00-08:00"}}
    validate_response({"CDCResponse": [{"QueryResponse": [{"Invoice": [INVOICE, deleted], "startPosition": 1, "maxResults": 2},
                                                          {}]}], "time": TIME})
    validate_response({"BatchItemResponse": [{"Invoice": INVOICE, "bId": "1"},
                                             {"Fault": {"Error": [{"Message": "m", "Detail": "d", "code": "610"}],
                                                        "type": "ValidationFault"}, "bId": "2"}], "time": TIME})
    with pytest.raises(SchemaValidationError):
        validate_response({"Invoice": INVOICE, "time": "yesterday"})
    with pytest.raises(SchemaValidationError):
        validate_response({"QueryResponse": {"Invoice": [{**INVOICE, "Balance": "lots"}]}, "time": TIME})


def test_batch_requests() -> None:
    validate_batch_request({"BatchItemRequest": [{"bId": "1", "operation": "create", "Bill": BILL},
                                                 {"bId": "2", "Query": "SELECT * FROM Bill"}]})
    with pytest.raises(SchemaValidationError):
        validate_batch_request({"BatchItemRequest": [{"bId": "1", "operation": "upsert", "Bill": BILL}]})


def test_the_cached_validator_still_rejects_what_it_has_not_seen() -> None:
    validator = CachedEntityValidator()
    answer = {"QueryResponse": {"Invoice": [INVOICE], "startPosition": 1, "maxResults": 1}, "time": TIME}
    validator.response(answer)
    validator.response(answer)
    with pytest.raises(SchemaValidationError):
        validator.response({"QueryResponse": {"Invoice": [{**INVOICE, "TxnDate": "soon"}]}, "time": TIME})
    with pytest.raises(SchemaValidationError):
        validator.response({"QueryResponse": {"Invoice": [INVOICE], "startPosition": "first"}, "time": TIME})
