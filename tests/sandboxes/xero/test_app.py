"""The Accounting API of the local Xero over HTTP: requests refused as Xero refuses them, answers checked,
money computed as Xero computes it, batches, statuses, payments, paging, If-Modified-Since, idempotency."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.sandboxes.xero.conftest import Xero, bill

def invoice_of(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return answer.json()["Invoices"][0]


def test_seeded_organisation_has_realistic_settings(xero: Xero) -> None:
    organisation = xero.get("/Organisation").json()["Organisations"][0]
    assert organisation["OrganisationID"] == xero.tenant_id and organisation["BaseCurrency"] == "GBP"
    rates = {r["TaxType"]: r for r in xero.get("/TaxRates").json()["TaxRates"]}
    assert rates["OUTPUT2"]["EffectiveRate"] == 20 and rates["OUTPUT2"]["DisplayTaxRate"] == 20
    assert rates["OUTPUT2"]["TaxComponents"] == [{"Name": "VAT", "Rate": 20.0, "IsCompound": False,
                                                  "IsNonRecoverable": False}]
    assert {r["Status"] for r in rates.values()} == {"ACTIVE"}
    accounts = {a["Code"]: a for a in xero.get("/Accounts").json()["Accounts"]}
    assert accounts["090"]["Type"] == "BANK" and accounts["610"]["SystemAccount"] == "DEBTORS"
    assert accounts["453"]["TaxType"] == "INPUT2"
    assert "GBP" in {c["Code"] for c in xero.get("/Currencies").json()["Currencies"]}
    statuses = {i["Status"] for i in xero.state("invoices")}
    assert {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED"} <= statuses
    where = xero.get("/TaxRates", params={"where": 'TaxType=="INPUT2"'}).json()["TaxRates"]
    assert [r["TaxType"] for r in where] == ["INPUT2"]


@pytest.mark.parametrize(("change", "says"), [
    ({"Refrence": "B-1"}, "'Refrence' was unexpected"),
    ({"Type": "ACCPAYX"}, "'ACCPAYX' is not one of"),
    ({"Date": "2026-02-30"}, "is not a date"),
    ({"LineItems": [{"Description": "Paper", "Quantity": 1, "UnitAmount": "twelve"}]}, "is not of type 'number'"),
])
def test_requests_outside_the_definition_get_xeros_validation_exception(xero: Xero, change: dict[str, Any],
                                                                        says: str) -> None:
    before = xero.stats()["requests_rejected"]
    answer = xero.put("/Invoices", {"Invoices": [{**bill(xero.contact_id("PowerDirect")), **change}]})
    assert answer.status_code == 400
    body = answer.json()
    assert (body["ErrorNumber"], body["Type"]) == (10, "ValidationException")
    assert says in body["Elements"][0]["ValidationErrors"][0]["Message"]
    assert xero.stats()["requests_rejected"] == before + 1
    assert not [i for i in xero.state("invoices") if i.get("Reference") == "B-1" and i["Type"] == "ACCPAY"
                and i["Contact"]["Name"] == "PowerDirect" and i["Date"].startswith("/Date(1768435200000")]


def test_money_is_computed_per_line_for_each_line_amount_type(xero: Xero) -> None:
    supplier = xero.contact_id("PowerDirect")
    lines = [{"Description": "Paper", "Quantity": 3, "UnitAmount": 10.05, "AccountCode": "453", "TaxType": "INPUT2"},
             {"Description": "Books", "Quantity": 1, "UnitAmount": 19.99, "AccountCode": "453", "TaxType": "RRINPUT"},
             {"Description": "Stamps", "Quantity": 2, "UnitAmount": 0.85, "AccountCode": "453",
              "TaxType": "EXEMPTINPUT", "DiscountRate": 10}]
    exclusive = invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, lines=lines)]}))
    assert [(l["LineAmount"], l["TaxAmount"]) for l in exclusive["LineItems"]] == [(30.15, 6.03), (19.99, 1.0),
                                                                                   (1.53, 0.0)]
    assert (exclusive["SubTotal"], exclusive["TotalTax"], exclusive["Total"]) == (51.67, 7.03, 58.7)
    assert exclusive["AmountDue"] == 58.7 and exclusive["Status"] == "DRAFT" and exclusive["IsDiscounted"]
    inclusive = invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, lines=lines[:2],
                                                                    LineAmountTypes="Inclusive")]}))
    assert [l["TaxAmount"] for l in inclusive["LineItems"]] == [5.03, 0.95]  # 30.15/6 = 5.025 rounds half up
    assert (inclusive["SubTotal"], inclusive["TotalTax"], inclusive["Total"]) == (44.16, 5.98, 50.14)
    untaxed = invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, lines=lines[:1], LineAmountTypes="NoTax")]}))
    assert (untaxed["TotalTax"], untaxed["Total"]) == (0.0, 30.15)
    default_tax = invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, lines=[
        {"Description": "Rent", "Quantity": 1, "UnitAmount": 1000, "AccountCode": "469"}])]}))
    assert default_tax["LineItems"][0]["TaxType"] == "INPUT2" and default_tax["TotalTax"] == 200
    euro = invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, CurrencyCode="EUR", CurrencyRate=1.1612)]}))
    assert (euro["CurrencyCode"], euro["CurrencyRate"], euro["Total"]) == ("EUR", 1.1612, 30.0)
    refused = xero.put("/Invoices", {"Invoices": [bill(supplier, CurrencyCode="JPY")]})
    assert "Organisation is not subscribed to currency JPY" in str(refused.json())
    assert Decimal(str(exclusive["Total"])) == sum(Decimal(str(l["LineAmount"]) ) + Decimal(str(l["TaxAmount"]))
                                                   for l in exclusive["LineItems"])


def test_unknown_references_are_validation_errors_naming_the_element(xero: Xero) -> None:
    supplier = xero.contact_id("PowerDirect")
    nobody = str(uuid.uuid4())
    cases = [
        (bill(supplier, lines=[{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "999"}]),
         "Account code '999' is not a valid code for this document."),
        (bill(supplier, lines=[{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "453",
                                "TaxType": "GST15"}]),
         "The TaxType code 'GST15' does not exist or cannot be used for this type of transaction."),
        (bill(nobody), f"The contact with ContactID '{nobody}' does not exist."),
    ]
    answer = xero.put("/Invoices", {"Invoices": [case for case, _ in cases]}, params={"summarizeErrors": "false"})
    assert answer.status_code == 200
    for element, (_, message) in zip(answer.json()["Invoices"], cases, strict=True):
        assert element["HasErrors"] is True and element["StatusAttributeString"] == "ERROR"
        assert element["ValidationErrors"] == [{"Message": message}]


def test_summarize_errors_false_saves_the_good_ones_and_reports_the_bad_ones(xero: Xero) -> None:
    supplier = xero.contact_id("Swanston Security")
    good = bill(supplier, Reference="batch-good")
    bad = bill(supplier, Reference="batch-bad", lines=[{"Description": "x", "Quantity": 1, "UnitAmount": 1,
                                                        "AccountCode": "12345"}])
    before = len(xero.state("invoices"))
    summarized = xero.put("/Invoices", {"Invoices": [good, bad]})
    assert summarized.status_code == 400 and summarized.json()["Type"] == "ValidationException"
    assert len(summarized.json()["Elements"]) == 1 and len(xero.state("invoices")) == before  # nothing saved
    mixed = xero.put("/Invoices", {"Invoices": [good, bad]}, params={"summarizeErrors": "false"})
    assert mixed.status_code == 200
    first, second = mixed.json()["Invoices"]
    assert (first["StatusAttributeString"], first["HasErrors"]) == ("OK", False) and first["InvoiceID"]
    assert (second["StatusAttributeString"], second["HasErrors"]) == ("ERROR", True) and "InvoiceID" not in second
    assert len(xero.state("invoices")) == before + 1


def test_status_changes_follow_xeros_rules(xero: Xero) -> None:
    supplier = xero.contact_id("Swanston Security")
    draft = invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, Reference="flow")]}))
    path = f"/Invoices/{draft['InvoiceID']}"
    assert invoice_of(xero.post(path, {"Invoices": [{"Status": "SUBMITTED"}]}))["Status"] == "SUBMITTED"
    authorised = invoice_of(xero.post(path, {"Invoices": [{"Status": "AUTHORISED"}]}))
    assert authorised["Status"] == "AUTHORISED"
    for refused_status in ("DELETED", "DRAFT"):
        answer = xero.post(path, {"Invoices": [{"Status": refused_status}]})
        assert answer.status_code == 400
        assert answer.json()["Elements"][0]["ValidationErrors"] == [{"Message": "Invoice not of valid status for modification"}]
        assert answer.json()["Elements"][0]["InvoiceID"] == draft["InvoiceID"]
    assert invoice_of(xero.post(path, {"Invoices": [{"Status": "VOIDED"}]}))["Status"] == "VOIDED"
    assert xero.post(path, {"Invoices": [{"Reference": "again"}]}).status_code == 400
    deletable = invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, Status="SUBMITTED")]}))
    deleted = invoice_of(xero.post(f"/Invoices/{deletable['InvoiceID']}", {"Invoices": [{"Status": "DELETED"}]}))
    assert deleted["Status"] == "DELETED"
    refused = invoice_of(xero.post("/Invoices", {"Invoices": [{"InvoiceID": draft["InvoiceID"], "Reference": "x"}]},
                                   params={"summarizeErrors": "false"}))
    assert refused["ValidationErrors"] == [{"Message": "Invoice not of valid status for modification"}]
    unchanged = invoice_of(xero.get(path))
    assert (unchanged["Status"], unchanged["Reference"]) == ("VOIDED", "flow")


def test_payments_update_the_invoice_and_cannot_overpay(xero: Xero) -> None:
    customer = xero.contact_id("City Limousines")
    invoice = invoice_of(xero.put("/Invoices", {"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": customer}, "Status": "AUTHORISED", "Date": "2026-03-01",
        "DueDate": "2026-03-31", "LineItems": [{"Description": "Airport run", "Quantity": 1, "UnitAmount": 100,
                                                 "AccountCode": "200", "TaxType": "OUTPUT2"}]}]}))
    assert invoice["InvoiceNumber"].startswith("INV-") and invoice["AmountDue"] == 120

    def pay(amount: float) -> Any:
        return xero.put("/Payments", {"Payments": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]},
                                                    "Account": {"Code": "090"}, "Date": "2026-03-10",
                                                    "Amount": amount, "Reference": "remittance"}]})

    first = pay(20.5)
    assert first.status_code == 200, first.text
    payment = first.json()["Payments"][0]
    assert payment["PaymentType"] == "ACCRECPAYMENT" and payment["Status"] == "AUTHORISED"
    after = invoice_of(xero.get(f"/Invoices/{invoice['InvoiceID']}"))
    assert (after["AmountPaid"], after["AmountDue"], after["Status"]) == (20.5, 99.5, "AUTHORISED")
    over = pay(100)
    assert over.status_code == 400
    assert over.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "Payment amount exceeds the amount outstanding on this document."}]
    assert invoice_of(xero.post(f"/Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]},
                                params={"summarizeErrors": "false"}))["ValidationErrors"] == [
        {"Message": "This document cannot be edited as it has a payment or credit note allocated to it."}]
    rest = pay(99.5).json()["Payments"][0]
    paid = invoice_of(xero.get(f"/Invoices/{invoice['InvoiceID']}"))
    assert (paid["AmountDue"], paid["Status"]) == (0.0, "PAID") and paid["FullyPaidOnDate"]
    assert len(paid["Payments"]) == 2
    deleted = xero.post(f"/Payments/{rest['PaymentID']}", {"Status": "DELETED"})
    assert deleted.status_code == 200 and deleted.json()["Payments"][0]["Status"] == "DELETED"
    reopened = invoice_of(xero.get(f"/Invoices/{invoice['InvoiceID']}"))
    assert (reopened["AmountDue"], reopened["Status"]) == (99.5, "AUTHORISED") and "FullyPaidOnDate" not in reopened
    draft = invoice_of(xero.put("/Invoices", {"Invoices": [bill(customer)]}))
    refused = xero.put("/Payments", {"Payments": [{"Invoice": {"InvoiceID": draft["InvoiceID"]},
                                                   "Account": {"Code": "090"}, "Amount": 1}]})
    assert "Authorised" in refused.text
    listed = xero.get("/Payments", params={"where": f'Invoice.InvoiceID==guid("{invoice["InvoiceID"]}")'})
    assert {p["Status"] for p in listed.json()["Payments"]} == {"AUTHORISED", "DELETED"}


def test_paging_and_if_modified_since(xero: Xero) -> None:
    supplier = xero.contact_id("PowerDirect")
    marker = xero.put("/Invoices", {"Invoices": [bill(supplier, Reference="marker")]})
    stamp = int(invoice_of(marker)["UpdatedDateUTC"][6:19])
    since = __import__("datetime").datetime.fromtimestamp(stamp / 1000, __import__("datetime").UTC).isoformat()
    created = [invoice_of(xero.put("/Invoices", {"Invoices": [bill(supplier, Reference=f"page-{n}")]}))["InvoiceID"]
               for n in range(5)]
    pages = [xero.get("/Invoices", params={"page": page, "pageSize": 2}, headers={"If-Modified-Since": since}).json()
             for page in (1, 2, 3, 4)]
    assert pages[0]["pagination"] == {"page": 1, "pageSize": 2, "pageCount": 3, "itemCount": 5}
    assert [i["InvoiceID"] for page in pages for i in page["Invoices"]] == created
    assert pages[3]["Invoices"] == [] and all(i["LineItems"] for i in pages[0]["Invoices"])
    unpaged = xero.get("/Invoices", headers={"If-Modified-Since": since}).json()
    assert "pagination" not in unpaged and [i["LineItems"] for i in unpaged["Invoices"]] == [[]] * 5
    capped = xero.get("/Invoices", params={"page": 1, "pageSize": 5000}).json()["pagination"]
    assert capped["pageSize"] == 1000
    by_ids = xero.get("/Invoices", params={"IDs": ",".join(created[:2])}).json()["Invoices"]
    assert {i["InvoiceID"] for i in by_ids} == set(created[:2])
    bills = xero.get("/Invoices", params={"where": 'Type=="ACCPAY"', "Statuses": "DRAFT", "page": 1,
                                          "pageSize": 1000}).json()["Invoices"]
    assert bills and {(i["Type"], i["Status"]) for i in bills} == {("ACCPAY", "DRAFT")}
    assert xero.get("/Invoices", params={"where": "Type LIKE 'x'"}).status_code == 400


def test_idempotency_key_replays_the_first_answer(xero: Xero) -> None:
    supplier = xero.contact_id("PowerDirect")
    key = {"Idempotency-Key": f"bill-{uuid.uuid4()}"}
    body = {"Invoices": [bill(supplier, Reference="idempotent")]}
    first = invoice_of(xero.put("/Invoices", body, headers=key))
    replay = invoice_of(xero.put("/Invoices", body, headers=key))
    assert replay == first
    assert len([i for i in xero.state("invoices") if i["InvoiceID"] == first["InvoiceID"]]) == 1
    assert len([i for i in xero.state("invoices") if i.get("Reference") == "idempotent"]) == 1
    changed = xero.put("/Invoices", {"Invoices": [bill(supplier, Reference="other")]}, headers=key)
    assert changed.status_code == 400 and "Idempotency-Key" in changed.json()["Message"]
    assert xero.stats()["idempotent_replays"] >= 1
    other_tenant = Xero(xero.info, xero.tokens, xero.info.tenant_ids[1])
    contact = other_tenant.contact_id("PowerDirect")
    assert invoice_of(other_tenant.put("/Invoices", {"Invoices": [bill(contact)]}, headers=key))["InvoiceID"] \
        != first["InvoiceID"]  # keys belong to a tenant


def test_contacts_and_items(xero: Xero) -> None:
    created = xero.put("/Contacts", {"Contacts": [{"Name": "Acme Ltd", "EmailAddress": "ap@acme.example"}]})
    contact = created.json()["Contacts"][0]
    assert contact["ContactStatus"] == "ACTIVE" and contact["UpdatedDateUTC"].startswith("/Date(")
    duplicate = xero.put("/Contacts", {"Contacts": [{"Name": "Acme Ltd"}]})
    assert duplicate.status_code == 400 and "must be unique" in duplicate.text
    updated = xero.post(f"/Contacts/{contact['ContactID']}", {"Contacts": [{"EmailAddress": "billing@acme.example"}]})
    assert updated.json()["Contacts"][0]["EmailAddress"] == "billing@acme.example"
    assert xero.get(f"/Contacts/{contact['ContactID']}").json()["Contacts"][0]["Name"] == "Acme Ltd"
    assert xero.get(f"/Contacts/{uuid.uuid4()}").status_code == 404
    xero.post("/Contacts", {"Contacts": [{"ContactID": contact["ContactID"], "ContactStatus": "ARCHIVED"}]})
    names = {c["Name"] for c in xero.get("/Contacts").json()["Contacts"]}
    assert "Acme Ltd" not in names
    assert "Acme Ltd" in {c["Name"] for c in xero.get("/Contacts", params={"includeArchived": "true"}).json()["Contacts"]}
    paged = xero.get("/Contacts", params={"page": 1, "searchTerm": "acme", "includeArchived": "true"}).json()
    assert paged["pagination"]["itemCount"] == 1
    item = xero.put("/Items", {"Items": [{"Code": "PAPER-A4", "Name": "A4 paper",
                                           "PurchaseDetails": {"UnitPrice": 4.2, "AccountCode": "453"}}]})
    assert item.status_code == 200, item.text
    assert xero.put("/Items", {"Items": [{"Code": "PAPER-A4"}]}).status_code == 400
    from_item = invoice_of(xero.put("/Invoices", {"Invoices": [bill(contact["ContactID"], lines=[
        {"ItemCode": "PAPER-A4", "Quantity": 10}])]}))
    assert (from_item["LineItems"][0]["UnitAmount"], from_item["LineItems"][0]["AccountCode"]) == (4.2, "453")
    assert from_item["Total"] == 50.4


def test_every_answer_was_checked_against_the_definition(xero: Xero) -> None:
    stats = xero.stats()
    assert stats["responses_invalid"] == 0
    assert stats["requests_validated"] > 40 and stats["responses_validated"] >= stats["requests_validated"] - 2
    assert stats["requests_rejected"] >= 4
