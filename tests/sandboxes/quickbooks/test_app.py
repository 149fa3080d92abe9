"""The Accounting API over HTTP: validation of every body, CRUD with SyncTokens, tax in both models,
payments and balances, query paging, CDC, batch, requestid replay, and the raw state the tests use as oracle."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.sandboxes.quickbooks.support import Api, control, fault_of, new_company

SANDBOX_OPTIONS = {"companies": 2, "countries": ("US", "GB")}


@pytest.fixture(scope="module")
def us(sandbox: SandboxInfo) -> Iterator[Api]:
    api = Api(sandbox, sandbox.realm_ids[0])
    yield api
    api.close()


@pytest.fixture(scope="module")
def gb(sandbox: SandboxInfo) -> Iterator[Api]:
    api = Api(sandbox, sandbox.realm_ids[1])
    yield api
    api.close()


def stats(info: SandboxInfo) -> dict[str, Any]:
    with control(info) as client:
        return dict(client.get("/stats").json())


def raw(info: SandboxInfo, realm: str, entity: str) -> dict[str, Any]:
    with control(info) as client:
        return dict(client.get(f"/companies/{realm}/{entity}").json())


def seeded(api: Api, entity: str, name: str, field: str = "DisplayName") -> dict[str, Any]:
    return next(o for o in raw(api.info, api.realm_id, entity)["objects"] if o.get(field) == name)


def bill_body(api: Api, amount: Any = 120.0, tax_code: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"AccountRef": {"value": seeded(api, "Account", "Office Expenses", "Name")["Id"]}}
    if tax_code:
        detail["TaxCodeRef"] = {"value": tax_code}
    return {"VendorRef": {"value": seeded(api, "Vendor", "Hicks Hardware")["Id"]}, "TxnDate": "2026-03-01",
            "Line": [{"Amount": amount, "DetailType": "AccountBasedExpenseLineDetail", "AccountBasedExpenseLineDetail": detail}]}


def sales_line(amount: float, tax_code: str, qty: float | None = None, price: float | None = None, item: str = "1") -> dict[str, Any]:
    detail: dict[str, Any] = {"ItemRef": {"value": item}, "TaxCodeRef": {"value": tax_code}}
    if qty is not None:
        detail["Qty"] = qty
    if price is not None:
        detail["UnitPrice"] = price
    return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def code_id(api: Api, name: str) -> str:
    return str(seeded(api, "TaxCode", name, "Name")["Id"])


# -- validation -------------------------------------------------------------------------------------


def test_each_kind_of_bad_body_is_a_validation_fault_naming_the_element(sandbox: SandboxInfo, us: Api) -> None:
    before = stats(sandbox)
    bills_before = len(raw(sandbox, us.realm_id, "Bill")["objects"])
    good = bill_body(us)
    misspelled = {**good, "VendorRefs": good["VendorRef"]}
    bad_date = {**good, "TxnDate": "2026-02-30"}
    bad_detail = copy.deepcopy(good)
    bad_detail["Line"][0]["DetailType"] = "AccountBasedExpense"
    bad_amount = bill_body(us, amount="1O0.00")
    for body, element in ((misspelled, "Bill.VendorRefs"), (bad_date, "TxnDate"), (bad_detail, "DetailType"),
                          (bad_amount, "Amount")):
        response = us.post("/bill", body)
        assert response.status_code == 400, response.text
        fault = fault_of(response)
        assert fault["type"] == "ValidationFault" and fault["code"] == "2010"
        assert fault["element"] == element and element in fault["Detail"]
    after = stats(sandbox)
    assert after["requests_rejected"] - before["requests_rejected"] == 4
    assert after["requests_validated"] - before["requests_validated"] == 4
    assert len(raw(sandbox, us.realm_id, "Bill")["objects"]) == bills_before
    not_json = us.client.post("/bill", content=b"{nope", headers={**us.headers(), "Content-Type": "application/json"})
    assert not_json.status_code == 400 and fault_of(not_json)["code"] == "2010"


def test_business_rules_answer_intuit_faults(us: Api) -> None:
    missing_vendor = bill_body(us)
    del missing_vendor["VendorRef"]
    assert fault_of(us.post("/bill", missing_vendor))["code"] == "2020"
    unknown_vendor = {**bill_body(us), "VendorRef": {"value": "999"}}
    fault = fault_of(us.post("/bill", unknown_vendor))
    assert fault["code"] == "2500" and fault["element"] == "Bill.VendorRef"
    assert fault_of(us.get("/bill/999"))["code"] == "610"
    vendor = us.create("Vendor", {"DisplayName": "Inactive Supplies"})
    us.create("Vendor", {**vendor, "Active": False, "sparse": True})
    assert fault_of(us.post("/bill", {**bill_body(us), "VendorRef": {"value": vendor["Id"]}}))["code"] == "610"
    duplicate = us.post("/customer", {"DisplayName": "hicks hardware"})
    assert fault_of(duplicate)["code"] == "6240"
    delete_vendor = us.post("/vendor", {"Id": vendor["Id"], "SyncToken": "1"}, operation="delete")
    assert fault_of(delete_vendor)["code"] == "500"
    assert fault_of(us.post("/taxcode", {"Name": "Mine"}))["code"] == "500"


# -- create, read, update -----------------------------------------------------------------------------


def test_sync_tokens_sparse_and_full_updates(us: Api) -> None:
    customer = us.create("Customer", {"DisplayName": "Sync Token Test", "Notes": "first", "CompanyName": "STT"})
    assert customer["SyncToken"] == "0" and customer["MetaData"]["CreateTime"]
    sparse = us.create("Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "second"})
    assert sparse["SyncToken"] == "1" and sparse["Notes"] == "second" and sparse["CompanyName"] == "STT"
    stale = us.post("/customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "third"})
    assert stale.status_code == 400
    fault = fault_of(stale)
    assert fault["code"] == "5010" and fault["Message"] == "Stale Object Error"
    full = us.create("Customer", {"Id": customer["Id"], "SyncToken": "1", "DisplayName": "Sync Token Test"})
    assert full["SyncToken"] == "2" and "Notes" not in full and "CompanyName" not in full
    assert us.read("Customer", customer["Id"]) == full
    no_token = us.post("/customer", {"Id": customer["Id"], "DisplayName": "x"})
    assert fault_of(no_token)["code"] == "2020"


# -- money and tax --------------------------------------------------------------------------------------


def test_us_invoice_taxes_taxable_lines_through_the_transaction_code(us: Api) -> None:
    invoice = us.create("Invoice", {
        "CustomerRef": {"value": seeded(us, "Customer", "Cool Cars")["Id"]},
        "Line": [sales_line(100, "TAX", 2, 50), sales_line(33.33, "TAX"), sales_line(40, "NON")],
    })
    detail = invoice["TxnTaxDetail"]
    assert detail["TxnTaxCodeRef"]["name"] == "California"
    by_rate = {line["TaxLineDetail"]["TaxRateRef"]["name"]: line for line in detail["TaxLine"]}
    assert by_rate["California State"]["Amount"] == 8.33  # 133.33 x 6.25% = 8.333
    assert by_rate["Alameda County"]["Amount"] == 1.33
    assert by_rate["Oakland City"]["Amount"] == 0.67
    assert by_rate["California State"]["TaxLineDetail"]["NetAmountTaxable"] == 133.33
    assert detail["TotalTax"] == 10.33
    assert invoice["TotalAmt"] == 183.66 and invoice["Balance"] == 183.66
    assert invoice["Line"][-1] == {"Amount": 173.33, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    assert [line["LineNum"] for line in invoice["Line"][:-1]] == [1, 2, 3]
    state_only = us.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(200, "TAX")],
                                       "TxnTaxDetail": {"TxnTaxCodeRef": {"value": code_id(us, "California State only")}}})
    assert state_only["TxnTaxDetail"]["TotalTax"] == 12.5 and state_only["TotalAmt"] == 212.5
    mismatch = us.post("/invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(99, "TAX", 2, 50)]})
    assert fault_of(mismatch)["code"] == "6070"
    wrong_model = us.post("/invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(10, code_id(us, "California"))]})
    assert fault_of(wrong_model)["element"] == "TaxCodeRef"
    bill = us.create("Bill", {**bill_body(us, 80), "GlobalTaxCalculation": "TaxExcluded"})
    assert bill["TotalAmt"] == 80 and "TxnTaxDetail" not in bill and "GlobalTaxCalculation" not in bill


def test_doc_numbers_are_assigned_and_duplicates_refused(us: Api) -> None:
    first = us.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(10, "NON")]})
    second = us.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(10, "NON")]})
    assert int(second["DocNumber"]) == int(first["DocNumber"]) + 1
    duplicate = us.post("/invoice", {"CustomerRef": {"value": "1"}, "DocNumber": first["DocNumber"], "Line": [sales_line(1, "NON")]})
    assert fault_of(duplicate)["code"] == "6140"
    allowed = us.create("Invoice", {"CustomerRef": {"value": "1"}, "DocNumber": first["DocNumber"], "Line": [sales_line(1, "NON")]},
                        include="allowduplicatedocnum")
    assert allowed["DocNumber"] == first["DocNumber"]


def test_non_us_company_taxes_each_line_by_its_tax_code(gb: Api) -> None:
    standard, reduced, exempt = code_id(gb, "20.0% S"), code_id(gb, "5.0% R"), code_id(gb, "Exempt")
    invoice = gb.create("Invoice", {"CustomerRef": {"value": "1"},
                                    "Line": [sales_line(100, standard), sales_line(50, reduced), sales_line(30, exempt)]})
    assert invoice["GlobalTaxCalculation"] == "TaxExcluded"
    assert "TxnTaxCodeRef" not in invoice["TxnTaxDetail"]
    taxes = {line["TaxLineDetail"]["TaxRateRef"]["name"]: line["Amount"] for line in invoice["TxnTaxDetail"]["TaxLine"]}
    assert taxes == {"20.0% S (Sales)": 20, "5.0% R (Sales)": 2.5}
    assert invoice["TotalAmt"] == 202.5 and invoice["CurrencyRef"]["value"] == "GBP"
    inclusive = gb.create("Invoice", {"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "TaxInclusive",
                                      "Line": [sales_line(120, standard)]})
    assert inclusive["Line"][0]["Amount"] == 100 and inclusive["Line"][0]["SalesItemLineDetail"]["TaxInclusiveAmt"] == 120
    assert inclusive["TxnTaxDetail"]["TotalTax"] == 20 and inclusive["TotalAmt"] == 120
    untaxed = gb.create("Invoice", {"CustomerRef": {"value": "1"}, "GlobalTaxCalculation": "NotApplicable",
                                    "Line": [{"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]})
    assert untaxed["TotalAmt"] == 10 and untaxed["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"] == "Services"
    no_code = gb.post("/invoice", {"CustomerRef": {"value": "1"}, "Line": [{"Amount": 10, "DetailType": "SalesItemLineDetail",
                                                                           "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    assert fault_of(no_code)["code"] == "2020"
    assert fault_of(gb.post("/invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(10, "TAX")]}))["code"] == "2500"
    bill = gb.create("Bill", bill_body(gb, 200, standard))
    assert bill["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["TaxRateRef"]["name"] == "20.0% S (Purchase)"
    assert bill["TotalAmt"] == 240 and bill["Balance"] == 240


def test_multicurrency_documents_carry_exchange_rate_and_home_amounts(sandbox: SandboxInfo, us: Api) -> None:
    realm = new_company(sandbox, name="Multi Ltd", country="GB", multicurrency=True)
    api = Api(sandbox, realm)
    try:
        customer = api.create("Customer", {"DisplayName": "Euro Client", "CurrencyRef": {"value": "EUR"}})
        invoice = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "ExchangeRate": 0.85,
                                         "Line": [sales_line(100, code_id(api, "0.0% Z"))]})
        assert invoice["CurrencyRef"]["value"] == "EUR" and invoice["ExchangeRate"] == 0.85
        assert invoice["HomeTotalAmt"] == 85 and invoice["HomeBalance"] == 85
        wrong = api.post("/invoice", {"CustomerRef": {"value": customer["Id"]}, "CurrencyRef": {"value": "GBP"},
                                      "Line": [sales_line(1, code_id(api, "0.0% Z"))]})
        assert fault_of(wrong)["element"] == "CurrencyRef"
    finally:
        api.close()
    single = us.post("/customer", {"DisplayName": "Euro Elsewhere", "CurrencyRef": {"value": "EUR"}})
    assert fault_of(single)["element"] == "Customer.CurrencyRef"


# -- payments ----------------------------------------------------------------------------------------------


def test_payments_update_the_invoice_balance(us: Api) -> None:
    customer = seeded(us, "Customer", "Bill's Windsurf Shop")["Id"]
    invoice = us.create("Invoice", {"CustomerRef": {"value": customer}, "Line": [sales_line(300, "NON")]})
    payment = us.create("Payment", {"CustomerRef": {"value": customer}, "TotalAmt": 150,
                                    "Line": [{"Amount": 100, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    assert payment["UnappliedAmt"] == 50
    paid = us.read("Invoice", invoice["Id"])
    assert paid["Balance"] == 200 and paid["SyncToken"] == "1"
    assert paid["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    over = us.post("/payment", {"CustomerRef": {"value": customer}, "TotalAmt": 500,
                                "Line": [{"Amount": 201, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    assert fault_of(over)["element"] == "Amount"
    assert fault_of(us.post("/invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="delete"))["code"] == "6540"
    updated = us.create("Payment", {"Id": payment["Id"], "SyncToken": "0", "sparse": True,
                                    "Line": [{"Amount": 150, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    assert updated["UnappliedAmt"] == 0 and us.read("Invoice", invoice["Id"])["Balance"] == 150
    via_void = us.post("/payment", {"Id": payment["Id"], "SyncToken": "0"}, operation="void")
    assert fault_of(via_void)["code"] == "500"
    voided = us.create("Payment", {"Id": payment["Id"], "SyncToken": "1", "sparse": True}, operation="update", include="void")
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"] == "Voided"
    restored = us.read("Invoice", invoice["Id"])
    assert restored["Balance"] == 300 and "LinkedTxn" not in restored
    second = us.create("Payment", {"CustomerRef": {"value": customer}, "TotalAmt": 300,
                                   "Line": [{"Amount": 300, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    assert us.read("Invoice", invoice["Id"])["Balance"] == 0
    deleted = us.ok(us.post("/payment", {"Id": second["Id"], "SyncToken": "0"}, operation="delete"))["Payment"]
    assert deleted == {"domain": "QBO", "status": "Deleted", "Id": second["Id"]}
    assert us.read("Invoice", invoice["Id"])["Balance"] == 300


def test_bill_payments_update_the_bill_balance(us: Api) -> None:
    bill = us.create("Bill", bill_body(us, 500))
    bank = seeded(us, "Account", "Checking", "Name")["Id"]
    payment = us.create("BillPayment", {
        "VendorRef": bill["VendorRef"], "PayType": "Check", "TotalAmt": 200, "CheckPayment": {"BankAccountRef": {"value": bank}},
        "Line": [{"Amount": 200, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}]})
    assert us.read("Bill", bill["Id"])["Balance"] == 300
    card = us.post("/billpayment", {"VendorRef": bill["VendorRef"], "PayType": "CreditCard", "TotalAmt": 1,
                                    "CreditCardPayment": {"CCAccountRef": {"value": bank}},
                                    "Line": [{"Amount": 1, "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}]})
    assert fault_of(card)["element"] == "CCAccountRef"
    us.ok(us.post("/billpayment", {"Id": payment["Id"], "SyncToken": "0"}, operation="delete"))
    assert us.read("Bill", bill["Id"])["Balance"] == 500
    assert fault_of(us.post("/bill", {"Id": bill["Id"], "SyncToken": "2"}, operation="void"))["code"] == "500"


def test_void_and_delete_an_invoice(us: Api) -> None:
    invoice = us.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(40, "TAX")],
                                    "PrivateNote": "keep for audit"})
    voided = us.ok(us.post("/invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="void"))["Invoice"]
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0 and voided["PrivateNote"] == "Voided - keep for audit"
    assert voided["SyncToken"] == "1" and voided["TxnTaxDetail"]["TotalTax"] == 0
    stale = us.post("/invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="delete")
    assert fault_of(stale)["code"] == "5010"
    us.ok(us.post("/invoice", {"Id": invoice["Id"], "SyncToken": "1"}, operation="delete"))
    assert fault_of(us.get(f"/invoice/{invoice['Id']}"))["code"] == "610"
    assert invoice["Id"] in raw(us.info, us.realm_id, "Invoice")["deleted"]


# -- query, CDC, batch, requestid ------------------------------------------------------------------------------


def test_query_pages_through_everything(sandbox: SandboxInfo) -> None:
    realm = new_company(sandbox, name="Query Co", country="US", seed=False)
    api = Api(sandbox, realm)
    try:
        customer = api.create("Customer", {"DisplayName": "Pager"})
        created = [api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "DocNumber": f"Q-{n:03d}",
                                          "Line": [sales_line(n + 1, "NON")]}) for n in range(25)]
        assert api.query("SELECT COUNT(*) FROM Invoice") == {"totalCount": 25}
        seen, start = [], 1
        while True:
            page = api.query(f"SELECT * FROM Invoice ORDERBY DocNumber STARTPOSITION {start} MAXRESULTS 10")
            if not page:
                break
            assert page["startPosition"] == start and page["maxResults"] == len(page["Invoice"]) <= 10
            seen += [invoice["DocNumber"] for invoice in page["Invoice"]]
            start += 10
        assert seen == [invoice["DocNumber"] for invoice in created]
        since = created[0]["MetaData"]["LastUpdatedTime"]
        recent = api.query(f"SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '{since}' MAXRESULTS 1000")
        assert len(recent["Invoice"]) == 25
        one = api.query("SELECT * FROM Invoice WHERE DocNumber = 'Q-007'")
        assert [i["Id"] for i in one["Invoice"]] == [created[7]["Id"]]
        assert api.query("SELECT * FROM Invoice WHERE DocNumber = 'nope'") == {}
        assert api.query("SELECT * FROM Customer WHERE DisplayName LIKE 'Pag%'")["Customer"][0]["Id"] == customer["Id"]
        bad = api.get("/query", query="SELECT * FROM Invoice WHERE TotalAmt > '1' OR Id = '2'")
        assert bad.status_code == 400 and fault_of(bad)["code"] == "4000"
        unknown = api.get("/query", query="SELECT * FROM Invoicez")
        assert fault_of(unknown)["code"] == "4001"
        posted = api.client.post("/query", content="SELECT COUNT(*) FROM Customer",
                                 headers={**api.headers(), "Content-Type": "application/text"}, params={"minorversion": "75"})
        customers = len(api.query("SELECT * FROM Customer")["Customer"])
        assert api.ok(posted)["QueryResponse"] == {"totalCount": customers}
    finally:
        api.close()


def test_cdc_reports_changes_and_deletions(us: Api) -> None:
    since = us.ok(us.get("/companyinfo/" + us.realm_id))["time"]
    bill = us.create("Bill", bill_body(us, 10))
    invoice = us.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [sales_line(5, "NON")]})
    us.ok(us.post("/bill", {"Id": bill["Id"], "SyncToken": "0"}, operation="delete"))
    answer = us.ok(us.get("/cdc", entities="Invoice,Bill", changedSince=since))
    invoices, bills = answer["CDCResponse"][0]["QueryResponse"]
    assert invoice["Id"] in [i["Id"] for i in invoices["Invoice"]]
    deleted = next(b for b in bills["Bill"] if b["Id"] == bill["Id"])
    assert deleted["status"] == "Deleted" and set(deleted) == {"domain", "status", "Id", "MetaData"}
    too_old = us.get("/cdc", entities="Invoice", changedSince="2020-01-01T00:00:00Z")
    assert too_old.status_code == 400 and "30 days" in fault_of(too_old)["Detail"]


def test_batch_answers_each_item_with_its_own_fault(sandbox: SandboxInfo, us: Api) -> None:
    vendor = us.create("Vendor", {"DisplayName": "Batch Vendor"})
    before = stats(sandbox)
    answer = us.ok(us.post("/batch", {"BatchItemRequest": [
        {"bId": "ok", "operation": "create", "Bill": {**bill_body(us, 12), "VendorRef": {"value": vendor["Id"]}}},
        {"bId": "schema", "operation": "create", "Bill": {**bill_body(us, 12), "TxnDate": "tomorrow"}},
        {"bId": "stale", "operation": "update", "Vendor": {"Id": vendor["Id"], "SyncToken": "7", "DisplayName": "x"}},
        {"bId": "query", "Query": f"SELECT * FROM Vendor WHERE Id = '{vendor['Id']}'"},
        {"bId": "delete", "operation": "delete", "Invoice": {"Id": "9999", "SyncToken": "0"}},
    ]}))
    items = {item["bId"]: item for item in answer["BatchItemResponse"]}
    assert items["ok"]["Bill"]["TotalAmt"] == 12
    assert items["schema"]["Fault"]["Error"][0]["element"] == "TxnDate"
    assert items["stale"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["query"]["QueryResponse"]["Vendor"][0]["Id"] == vendor["Id"]
    assert items["delete"]["Fault"]["Error"][0]["code"] == "610"
    after = stats(sandbox)
    assert after["requests_rejected"] - before["requests_rejected"] == 1
    assert after["batch_calls"][us.realm_id] - before["batch_calls"].get(us.realm_id, 0) == 1
    too_many = us.post("/batch", {"BatchItemRequest": [{"bId": str(n), "Query": "SELECT * FROM Vendor"} for n in range(31)]})
    assert too_many.status_code == 400 and "30" in fault_of(too_many)["Detail"]


def test_a_create_replayed_with_its_requestid_creates_nothing(sandbox: SandboxInfo, us: Api) -> None:
    body = {"DisplayName": "Replayed Vendor"}
    first = us.ok(us.post("/vendor", body, requestid="req-vendor-1"))
    again = us.ok(us.post("/vendor", body, requestid="req-vendor-1"))
    assert again == first
    matching = [v for v in raw(sandbox, us.realm_id, "Vendor")["objects"] if v["DisplayName"] == "Replayed Vendor"]
    assert len(matching) == 1
    failed = us.post("/vendor", body, requestid="req-vendor-2")
    assert fault_of(failed)["code"] == "6240"
    assert fault_of(us.post("/vendor", {"DisplayName": "Something Else"}, requestid="req-vendor-2"))["code"] == "6240"
    batch = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Vendor": {"DisplayName": "Batch Replay"}}]}
    assert us.ok(us.post("/batch", batch, requestid="req-batch-1")) == us.ok(us.post("/batch", batch, requestid="req-batch-1"))
    assert stats(sandbox)["requestid_replays"] >= 3


# -- the rest of the surface ----------------------------------------------------------------------------------


def test_company_info_preferences_and_lists(us: Api) -> None:
    info = us.ok(us.get(f"/companyinfo/{us.realm_id}"))["CompanyInfo"]
    assert info["Country"] == "US" and info["CompanyName"].startswith("Sandbox Company")
    renamed = us.create("CompanyInfo", {"Id": info["Id"], "SyncToken": info["SyncToken"], "sparse": True,
                                        "CompanyName": "Renamed Inc"})
    assert renamed["CompanyName"] == "Renamed Inc"
    preferences = us.ok(us.get("/preferences"))["Preferences"]
    assert preferences["CurrencyPrefs"]["HomeCurrency"]["value"] == "USD"
    assert {c["Name"] for c in us.query("SELECT * FROM TaxCode")["TaxCode"]} >= {"TAX", "NON", "California"}
    assert us.query("SELECT * FROM TaxRate WHERE Name = 'California State'")["TaxRate"][0]["RateValue"] == 6.25
    income = us.query("SELECT * FROM Account WHERE AccountType = 'Income'")["Account"]
    assert {a["Classification"] for a in income} == {"Revenue"}
    item = us.create("Item", {"Name": "Widget Service", "IncomeAccountRef": {"value": income[0]["Id"]}, "UnitPrice": 12})
    assert item["Type"] == "Service" and item["IncomeAccountRef"]["name"] == income[0]["Name"]


def test_headers_minor_version_and_authentication(sandbox: SandboxInfo, us: Api) -> None:
    before = stats(sandbox)
    old = us.client.get("/preferences", params={"minorversion": "65"}, headers=us.headers())
    assert old.status_code == 200
    assert stats(sandbox)["old_minorversion"] == before["old_minorversion"] + 1
    xml = us.client.get("/preferences", params={"minorversion": "75"},
                        headers={"Authorization": us.headers()["Authorization"], "Accept": "application/xml"})
    assert xml.status_code == 406
    form = us.client.post("/vendor", content=b"DisplayName=x", params={"minorversion": "75"},
                          headers={**us.headers(), "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and fault_of(form)["element"] == "Content-Type"
    assert len(us.get("/preferences").headers["intuit_tid"]) == 32
    anonymous = httpx.get(f"{sandbox.url}/v3/company/{us.realm_id}/preferences", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    fault = fault_of(anonymous)
    assert fault["type"] == "AUTHENTICATION" and "AuthenticationFailed" in fault["Message"] and fault["code"] == "3200"
    other_realm = httpx.get(f"{sandbox.url}/v3/company/{sandbox.realm_ids[1]}/preferences", headers=us.headers())
    assert other_realm.status_code == 401


def test_raw_state_lists_objects_and_deletions(sandbox: SandboxInfo, us: Api) -> None:
    with control(sandbox) as client:
        assert client.get(f"/companies/{us.realm_id}/Nothing").status_code == 404
        assert client.post("/companies", json={"country": "AU", "currency": "XYZ"}).status_code == 400
        created = client.post("/companies", json={"name": "Aussie Pty", "country": "AU", "seed": False}).json()
        assert created["currency"] == "AUD" and set(created["seeded"]["tax_codes"]) >= {"default", "zero", "exempt"}
        companies = client.get("/companies").json()["companies"]
    assert [c["realm_id"] for c in companies][:2] == sandbox.realm_ids[:2]
    state = raw(sandbox, us.realm_id, "Bill")
    assert state["entity"] == "Bill" and all(b["domain"] == "QBO" for b in state["objects"])
    calls_before = stats(sandbox)["calls"][us.realm_id]
    raw(sandbox, us.realm_id, "Invoice")
    assert stats(sandbox)["calls"][us.realm_id] == calls_before


def test_every_answer_was_validated(sandbox: SandboxInfo) -> None:
    current = stats(sandbox)
    assert current["responses_validated"] > 50
    assert current["responses_invalid"] == 0, current["response_errors"]
