"""Xero's definition as the local Xero reads it: what it refuses and what it lets through."""

from __future__ import annotations

from typing import Any

import pytest

from sandboxes.xero.contract import SpecViolation, contract, validate_request, validate_response

TENANT = {"xero-tenant-id": "00000000-0000-0000-0000-000000000001", "Authorization": "Bearer token"}
CONTACT = {"ContactID": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}
GOOD = {"Type": "ACCPAY", "Contact": CONTACT, "Date": "2026-01-02", "DueDate": "/Date(1767312000000+0000)/",
        "LineItems": [{"Description": "Paper", "Quantity": 1, "UnitAmount": 10.5, "AccountCode": "453",
                       "TaxType": "INPUT2"}]}


def put_invoice(invoice: dict[str, Any]) -> None:
    validate_request("PUT", "/api.xro/2.0/Invoices", headers=TENANT, body={"Invoices": [invoice]},
                     query={"summarizeErrors": "false"})


def test_a_valid_bill_passes_and_paths_are_case_insensitive() -> None:
    put_invoice(GOOD)
    operation = validate_request("GET", "/api.xro/2.0/invoices/3fa85f64-5717-4562-b3fc-2c963f66afa6", headers=TENANT)
    assert (operation.operation_id, operation.template) == ("getInvoice", "/Invoices/{InvoiceID}")
    assert operation.scopes == ("accounting.transactions", "accounting.transactions.read")
    assert validate_request("GET", "/connections", headers=TENANT).operation_id == "getConnections"
    with pytest.raises(SpecViolation, match="Security not found"):
        validate_request("GET", "/connections")


@pytest.mark.parametrize(("change", "where", "says"), [
    ({"Refrence": "B-1"}, "Invoices[0]", "'Refrence' was unexpected"),
    ({"Type": "ACCPAYX"}, "Invoices[0].Type", "'ACCPAYX' is not one of"),
    ({"Date": "2026-13-45"}, "Invoices[0].Date", "is not a date"),
    ({"DueDate": "31/01/2026"}, "Invoices[0].DueDate", "is not a date"),
    ({"LineItems": [{"Description": "x", "UnitAmount": "12,50"}]}, "Invoices[0].LineItems[0].UnitAmount",
     "is not of type 'number'"),
    ({"Total": 10.5}, "Invoices[0].Total", "read-only"),
    ({"Contact": {"ContactID": "not-a-guid"}}, "Invoices[0].Contact.ContactID", "is not a 'uuid'"),
])
def test_each_kind_of_bad_body_is_refused_naming_the_element(change: dict[str, Any], where: str, says: str) -> None:
    with pytest.raises(SpecViolation) as refused:
        put_invoice({**GOOD, **change})
    assert any(problem.startswith(where + ":") and says in problem for problem in refused.value.problems), \
        refused.value.problems


def test_parameters_and_headers_are_checked() -> None:
    for query, headers, says in (
        ({"page": "two"}, TENANT, "page"),
        ({"IDs": "3fa85f64-5717-4562-b3fc-2c963f66afa6,nope"}, TENANT, "'nope' is not a 'uuid'"),
        ({}, {**TENANT, "If-Modified-Since": "yesterday"}, "If-Modified-Since"),
        ({}, {"Authorization": "Bearer token"}, "xero-tenant-id"),
    ):
        with pytest.raises(SpecViolation) as refused:
            validate_request("GET", "/api.xro/2.0/Invoices", query=query, headers=headers)
        assert says in str(refused.value)
    validate_request("GET", "/api.xro/2.0/Invoices", query={"Statuses": "DRAFT,AUTHORISED", "page": "2"},
                     headers={**TENANT, "If-Modified-Since": "2026-01-01T00:00:00Z"})


def test_answers_are_checked_strictly_under_xeros_envelope() -> None:
    answer = {"Id": "x", "Status": "OK", "ProviderName": "p", "DateTimeUTC": "/Date(1767312000000)/",
              "Invoices": [{**GOOD, "InvoiceID": CONTACT["ContactID"], "Total": 10.5, "Status": "DRAFT",
                            "UpdatedDateUTC": "/Date(1767312000000+0000)/"}]}
    assert validate_response("PUT", "/api.xro/2.0/Invoices", 200, answer) is True
    with pytest.raises(SpecViolation, match="'Totl' was unexpected"):
        validate_response("PUT", "/api.xro/2.0/Invoices", 200, {"Invoices": [{"Totl": 1}]})
    with pytest.raises(SpecViolation, match="is not a date-time"):
        validate_response("GET", "/api.xro/2.0/Invoices", 200, {"Invoices": [{"UpdatedDateUTC": "soon"}]})
    assert validate_response("GET", "/api.xro/2.0/Invoices", 403, {}) is False  # undocumented status


def test_an_operation_outside_the_definition_is_refused() -> None:
    with pytest.raises(SpecViolation, match="not an operation"):
        validate_request("GET", "/api.xro/2.0/Invoicez", headers=TENANT)
    assert contract().find("PATCH", "/api.xro/2.0/Invoices") is None


def test_list_answers_check_every_object_even_after_remembering_good_ones() -> None:
    good = {**GOOD, "InvoiceID": CONTACT["ContactID"], "Status": "AUTHORISED", "Total": 10.5}
    page = {"pagination": {"page": 1, "pageSize": 100, "pageCount": 1, "itemCount": 3}, "Invoices": [good] * 3}
    assert validate_response("GET", "/api.xro/2.0/Invoices", 200, page)
    assert validate_response("GET", "/api.xro/2.0/Invoices", 200, page)  # remembered, still fine
    with pytest.raises(SpecViolation) as refused:
        validate_response("GET", "/api.xro/2.0/Invoices", 200, {"Invoices": [good, good, {**good, "Type": "X"}]})
    assert refused.value.problems[0].startswith("Invoices[2].Type: 'X' is not one of")
    with pytest.raises(SpecViolation, match="pagination.page"):
        validate_response("GET", "/api.xro/2.0/Invoices", 200, {**page, "pagination": {"page": "one"}})
