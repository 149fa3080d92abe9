"""Tryton-specific behaviour beyond the contract, against the real sandbox server."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest

from config.secrets import Credentials
from sandboxes.tryton.sandbox import SandboxInfo
from providers.errors import DataError
from providers.tryton import TrytonProvider
from providers.types import DocumentKind, LineItem, OutgoingCounterpart, OutgoingDocument


def make(info: SandboxInfo, **settings: Any) -> TrytonProvider:
    return TrytonProvider({**info.settings, **settings}, Credentials(info.credentials))


def bill(party: str, *, number: str, tax_rate_value: int | None = 2000, tax_id: str | None = None) -> OutgoingDocument:
    return OutgoingDocument(
        kind=DocumentKind.PAYABLE,
        id=str(uuid.uuid4()),
        counterpart_platform_id=party,
        currency="USD",
        document_number=number,
        issue_date=dt.date.today(),
        lines=(
            LineItem(
                description="Paper", quantity=Decimal(1), unit_price=1000, tax_rate_value=tax_rate_value,
                tax_rate_platform_id=tax_id,
            ),
        ),
    )


def test_seeded_documents_carry_the_seeds_figures(tryton_sandbox: SandboxInfo) -> None:
    with make(tryton_sandbox) as provider:
        pages = list(provider.iter_documents(DocumentKind.PAYABLE, None))
    bills = {d.document_number: d for page in pages for d in page.items}
    second = bills["BILL-0002"]
    assert (second.subtotal, second.tax_amount, second.total_amount) == (12_500, 2_050, 14_550)
    assert second.status == "open" and second.amount_due == 14_550 and second.due_date == dt.date.today()
    lines = [(line.description, line.tax_rate_value) for line in second.lines]
    assert lines == [("Printer paper", 1000), ("Toner", 2000)]
    assert bills["BILL-0003"].status == "draft"
    assert second.counterpart_name == "Globex Supplier" and second.currency == "USD"


def test_lines_default_to_the_charts_expense_and_revenue_accounts(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    seed = tryton_sandbox.seed()
    with make(tryton_sandbox) as provider:
        document = bill(str(seed["supplier"]["id"]), number=f"ACC-{uuid.uuid4().hex[:6]}")
        pushed = provider.push_document(document, f"acc-{document.id}", None)
        accounts = {a.platform_id: a for a in provider.list_ledger_accounts()}
    (line,) = tryton_raw.search_read("account.invoice.line", [["invoice", "=", int(pushed.platform_id)]], ["account"])
    assert line["account"] == seed["accounts"]["expense"]["id"]
    assert accounts[str(seed["accounts"]["expense"]["id"])].type == "Expense"
    assert accounts[str(seed["accounts"]["revenue"]["id"])].type == "Income"
    assert accounts[str(seed["accounts"]["receivable"]["id"])].type == "Asset"
    assert accounts[str(seed["accounts"]["payable"]["id"])].type == "Liability"


def test_a_similar_bill_is_acknowledged_and_posted(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    """Tryton warns when a second bill has the same supplier number; the push acknowledges it."""
    supplier = str(tryton_sandbox.seed()["supplier"]["id"])
    number = f"DUP-{uuid.uuid4().hex[:6]}"
    with make(tryton_sandbox, post_documents=True) as provider:
        first = provider.push_document(bill(supplier, number=number), f"dup-1-{number}", None)
        second = provider.push_document(bill(supplier, number=number), f"dup-2-{number}", None)
    assert first.platform_id != second.platform_id
    states = tryton_raw.search_read("account.invoice", [["reference", "=", number]], ["state"])
    assert [s["state"] for s in states] == ["posted", "posted"]


def test_an_expired_session_is_renewed(tryton_sandbox: SandboxInfo) -> None:
    with make(tryton_sandbox) as provider:
        provider.check()
        provider._rpc._authorization = "Session " + base64.b64encode(b"admin:1:expired").decode()
        assert list(provider.list_tax_rates())


def test_a_posted_customer_invoice_cannot_be_voided(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    posted = next(i for i in tryton_sandbox.seed()["invoices"]["out"] if i["posted"])
    with make(tryton_sandbox) as provider, pytest.raises(DataError) as caught:
        provider.void_document(DocumentKind.RECEIVABLE, str(posted["id"]))
    assert "cannot void" in caught.value.message
    (record,) = tryton_raw.search_read("account.invoice", [["id", "=", posted["id"]]], ["state"])
    assert record["state"] == "posted"


def test_tax_group_decides_purchase_or_sale(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    seed = tryton_sandbox.seed()
    (group,) = tryton_raw.model("account.tax.group", "create", [{"name": "Sales only", "code": "S", "kind": "sale"}])
    tax_account = seed["accounts"]["tax"]["id"]
    (tax,) = tryton_raw.model(
        "account.tax", "create",
        [{"name": "Sales 7%", "description": "Sales 7%", "type": "percentage", "rate": Decimal("0.07"),
          "group": group, "invoice_account": tax_account, "credit_note_account": tax_account,
          "company": seed["company"]["id"]}],
    )
    supplier = str(seed["supplier"]["id"])
    with make(tryton_sandbox) as provider:
        with pytest.raises(DataError) as by_rate:
            provider.push_document(bill(supplier, number="S7", tax_rate_value=700), "s7-rate", None)
        with pytest.raises(DataError) as by_id:
            provider.push_document(bill(supplier, number="S7", tax_rate_value=None, tax_id=str(tax)), "s7-id", None)
        sale = OutgoingDocument(
            kind=DocumentKind.RECEIVABLE, id="s", counterpart_platform_id=str(seed["customer"]["id"]), currency="USD",
            lines=(LineItem(description="Service", quantity=Decimal(1), unit_price=10_000, tax_rate_value=700),),
        )
        pushed = provider.push_document(sale, f"s7-sale-{uuid.uuid4()}", None)
        document = provider.get_document(DocumentKind.RECEIVABLE, pushed.platform_id)
    assert by_rate.value.message == "tax rate 7% does not exist in the accounting system for purchases"
    assert by_id.value.field == "lines[0].tax_rate_platform_id"
    assert document.lines[0].tax_rate_platform_id == str(tax) and document.tax_amount == 700


def test_a_counterpart_with_the_same_name_is_adopted(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    name = f"Initech {uuid.uuid4().hex[:6]}"
    (existing,) = tryton_raw.model("party.party", "create", [{"name": name}])
    counterpart = OutgoingCounterpart(id="v1", name=name, is_customer=False, is_vendor=True)
    with make(tryton_sandbox) as provider:
        adopted = provider.push_counterpart(counterpart, f"adopt-{name}", None)
        again = provider.push_counterpart(counterpart, f"adopt-{name}", None)
        pushed = provider.push_document(bill(adopted.platform_id, number=f"AD-{name}"), f"adopt-bill-{name}", None)
    assert adopted.platform_id == again.platform_id == str(existing) and not adopted.created
    assert tryton_raw.model("party.party", "search_count", [["name", "=", name]]) == 1
    (invoice,) = tryton_raw.search_read("account.invoice", [["id", "=", int(pushed.platform_id)]], ["invoice_address"])
    assert invoice["invoice_address"]


def test_updating_a_draft_to_another_party_refreshes_party_fields(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    seed = tryton_sandbox.seed()
    with make(tryton_sandbox) as provider:
        other = provider.push_counterpart(
            OutgoingCounterpart(id="v2", name=f"Umbrella {uuid.uuid4().hex[:6]}", is_customer=False, is_vendor=True),
            f"party-{uuid.uuid4()}", None,
        )
        document = bill(str(seed["supplier"]["id"]), number=f"MOVE-{uuid.uuid4().hex[:6]}")
        created = provider.push_document(document, f"move-{document.id}", None)
        moved = replace(document, counterpart_platform_id=other.platform_id)
        provider.push_document(moved, f"move-{document.id}", created.platform_id)
    (invoice,) = tryton_raw.search_read(
        "account.invoice", [["id", "=", int(created.platform_id)]], ["party", "invoice_address.party", "comment"]
    )
    assert invoice["party"] == int(other.platform_id)
    assert invoice["invoice_address."]["party"] == int(other.platform_id)
    assert invoice["comment"] == f"[booksync:move-{document.id}]"


def test_a_draft_left_by_a_failed_post_is_posted_on_retry(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    supplier = str(tryton_sandbox.seed()["supplier"]["id"])
    document = bill(supplier, number=f"RETRY-{uuid.uuid4().hex[:6]}")
    key = f"retry-{document.id}"
    with make(tryton_sandbox) as drafts_only:
        first = drafts_only.push_document(document, key, None)
    with make(tryton_sandbox, post_documents=True) as posting:
        second = posting.push_document(document, key, None)
    assert second.platform_id == first.platform_id and not second.created
    (invoice,) = tryton_raw.search_read("account.invoice", [["id", "=", int(first.platform_id)]], ["state"])
    assert invoice["state"] == "posted"



class PostsBeforeTheWrite(httpx.HTTPTransport):
    """Posts ``invoice_id`` through another client just before the adapter's first write reaches Tryton."""

    def __init__(self, raw: Any, invoice_id: int) -> None:
        super().__init__()
        self.raw, self.invoice_id, self.posted = raw, invoice_id, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.posted and json.loads(request.content or b"{}").get("method") == "model.account.invoice.write":
            self.raw.model("account.invoice", "post", [self.invoice_id])
            self.posted = True
        return super().handle_request(request)


def test_a_draft_found_under_its_key_and_posted_meanwhile_is_taken_as_pushed(
    tryton_sandbox: SandboxInfo, tryton_raw: Any
) -> None:
    """A push whose answer was lost left a draft, and Tryton is still posting it (it kept working on the call
    the client gave up) when the retry has found the draft: the retry's update is refused, and the retry takes
    the invoice the first attempt made instead of reporting an error for it."""
    supplier = str(tryton_sandbox.seed()["supplier"]["id"])
    document = bill(supplier, number=f"RACE-{uuid.uuid4().hex[:6]}")
    key = f"race-{document.id}"
    with make(tryton_sandbox) as drafts_only:
        first = drafts_only.push_document(document, key, None)
    transport = PostsBeforeTheWrite(tryton_raw, int(first.platform_id))
    with TrytonProvider({**tryton_sandbox.settings, "post_documents": True}, Credentials(tryton_sandbox.credentials),
                        transport=transport) as posting:
        second = posting.push_document(document, key, None)
    assert transport.posted, "the update was not attempted; nothing was tested"
    assert second.platform_id == first.platform_id and not second.created
    invoices = tryton_raw.search_read("account.invoice", [["reference", "=", document.document_number]], ["state"])
    assert [i["state"] for i in invoices] == ["posted"]

# -- money, currencies, changes that do not touch the invoice ----------------------------------


@pytest.mark.parametrize(("currency", "unit_price", "expected_total", "rate"), [
    ("JPY", 1000, 1200, Decimal("0.006666666667")),      # 1,000 yen + 20%: 1,200 yen; 150 yen to the dollar
    ("KWD", 1234, 1481, Decimal("3.257328990228")),       # 1.234 KWD + 20% = 1.4808 -> 1.481 (half-even)
    ("EUR", 10_000, 12_000, Decimal("1.086956521739")),   # 100.00 EUR + 20%
])
def test_a_document_in_a_foreign_currency_is_pushed_and_pulled_exactly_with_its_rate(
    tryton_sandbox: SandboxInfo, tryton_raw: Any, currency: str, unit_price: int, expected_total: int, rate: Decimal
) -> None:
    seed = tryton_sandbox.seed()
    document = replace(
        bill(str(seed["supplier"]["id"]), number=f"FX-{currency}-{uuid.uuid4().hex[:6]}"),
        currency=currency, lines=(LineItem("Import", Decimal(1), unit_price, tax_rate_value=2000),),
    )
    with make(tryton_sandbox) as provider:
        pushed = provider.push_document(document, f"fx-{document.id}", None, may_exist=False)
        assert pushed.totals is not None and pushed.totals.total_amount == expected_total
        pulled = provider.get_document(DocumentKind.PAYABLE, pushed.platform_id)
    (raw,) = tryton_raw.search_read("account.invoice", [["id", "=", int(pushed.platform_id)]],
                                    ["currency.code", "total_amount"])
    assert raw["currency."]["code"] == currency
    assert pulled.currency == currency and pulled.total_amount == expected_total
    assert pulled.lines[0].unit_price == unit_price
    assert pulled.currency_rate == rate


def test_a_currency_tryton_keeps_with_other_decimals_than_iso_is_refused_not_scaled(
    tryton_sandbox: SandboxInfo, tryton_raw: Any
) -> None:
    tryton_raw.model("currency.currency", "create", [{"name": "Bahraini Dinar (2 digits)", "code": "BHD", "symbol": "BD",
                                                      "digits": 2, "rounding": Decimal("0.01")}])
    seed = tryton_sandbox.seed()
    document = replace(bill(str(seed["supplier"]["id"]), number=f"BHD-{uuid.uuid4().hex[:6]}"), currency="BHD")
    with make(tryton_sandbox) as provider, pytest.raises(DataError) as caught:
        provider.push_document(document, f"bhd-{document.id}", None)
    assert "Tryton keeps BHD with 2 decimals where ISO 4217 gives it 3" in caught.value.message
    assert caught.value.field == "currency"


def test_a_line_edited_on_its_own_and_a_renamed_party_reach_the_next_incremental_pull(
    tryton_sandbox: SandboxInfo, tryton_raw: Any
) -> None:
    seed = tryton_sandbox.seed()
    party = tryton_raw.model("party.party", "create", [{"name": f"Rename Me {uuid.uuid4().hex[:4]}"}])[0]
    with make(tryton_sandbox) as provider:
        first = provider.push_document(bill(str(party), number=f"LE-{uuid.uuid4().hex[:6]}"), f"le-{uuid.uuid4()}", None)
        other = provider.push_document(bill(str(seed["supplier"]["id"]), number=f"LE2-{uuid.uuid4().hex[:6]}"),
                                       f"le2-{uuid.uuid4()}", None)
        cursor = None
        for page in provider.iter_documents(DocumentKind.PAYABLE, None):
            cursor = page.next_cursor
        (line,) = tryton_raw.search_read("account.invoice.line", [["invoice", "=", int(other.platform_id)]], ["id"])
        tryton_raw.model("account.invoice.line", "write", [line["id"]], {"description": "edited on its own"})
        tryton_raw.model("party.party", "write", [party], {"name": "Renamed Party"})
        changed = {d.platform_id: d for page in provider.iter_documents(DocumentKind.PAYABLE, cursor) for d in page.items}
    assert set(changed) == {first.platform_id, other.platform_id}
    assert changed[other.platform_id].lines[0].description == "edited on its own"
    assert changed[first.platform_id].counterpart_name == "Renamed Party"


def test_a_batch_with_one_document_tryton_refuses_creates_the_others(tryton_sandbox: SandboxInfo, tryton_raw: Any) -> None:
    from providers.types import PushRequest

    seed = tryton_sandbox.seed()
    supplier = str(seed["supplier"]["id"])
    good = [bill(supplier, number=f"BATCH-{i}-{uuid.uuid4().hex[:6]}") for i in range(3)]
    refused = replace(bill(supplier, number=f"BATCH-BAD-{uuid.uuid4().hex[:6]}"),
                      lines=(LineItem("Bad account", Decimal(1), 1000, tax_rate_value=2000, ledger_account_id="999999"),))
    requests = [PushRequest(d, f"batch-{d.id}") for d in (good[0], refused, good[1], good[2])]
    before = int(tryton_raw.model("account.invoice", "search_count", []))
    with make(tryton_sandbox) as provider:
        outcomes = {o.key: o for o in provider.push_documents(requests)}
    assert len(outcomes) == 4
    assert outcomes[f"batch-{refused.id}"].error is not None and outcomes[f"batch-{refused.id}"].result is None
    assert all(outcomes[f"batch-{d.id}"].result is not None for d in good)
    assert int(tryton_raw.model("account.invoice", "search_count", [])) == before + 3


def test_the_books_are_the_server_the_database_and_the_company(tryton_sandbox: SandboxInfo) -> None:
    with make(tryton_sandbox) as provider:
        check = provider.check()
    company = tryton_sandbox.seed()["company"]["id"]
    port = tryton_sandbox.port
    assert check.books_id == f"tryton:http://127.0.0.1:{port}/{tryton_sandbox.database}/{company}"
    assert check.pinned_settings == {"company": company}
    with make(tryton_sandbox, url=f"HTTP://127.0.0.1:{port}/") as same:
        assert same.check().books_id == check.books_id
