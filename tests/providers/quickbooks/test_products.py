"""Products as Items on the local QuickBooks: types, the key in ``Sku``, income accounts, tax by the company's
model, adoption and clashes by name, one ``/batch`` per batch, a rename in QuickBooks, invoice lines naming the
item."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from providers.errors import DataError, NotFoundError
from providers.quickbooks import QuickBooksProvider
from providers.types import DocumentKind, OutgoingProduct, ProductType, PushRequest
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.conftest_quickbooks import QuickBooksRaw
from tests.providers.quickbooks.support import Books, Recording, document, key, line


@pytest.fixture(scope="module")
def gb(quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw) -> Books:
    return Books(quickbooks_sandbox, quickbooks_raw.new_company("Products UK Ltd", country="GB", currency="GBP"))


@pytest.fixture(scope="module")
def us(quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw) -> Books:
    return Books(quickbooks_sandbox, quickbooks_raw.new_company("Products US Inc", country="US"))


@pytest.fixture
def provider(gb: Books) -> Iterator[QuickBooksProvider]:
    with gb.provider() as instance:
        yield instance


def product(**fields: Any) -> OutgoingProduct:
    return OutgoingProduct(id=str(uuid.uuid4()), name=fields.pop("name", f"Desk {uuid.uuid4().hex[:6]}"),
                           type=fields.pop("type", ProductType.SERVICE), **fields)


def item(raw: QuickBooksRaw, books: Books, item_id: str) -> dict[str, Any]:
    return next(i for i in raw.state(books.realm_id, "Item") if i["Id"] == item_id)


def test_a_service_and_a_product_with_their_key_price_income_account_and_tax_code(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    accounts, codes = gb.company.seeded["accounts"], gb.company.seeded["tax_codes"]
    service_key = key()
    service = provider.push_product(product(name="Installation", description="On site", unit_price=12_000,
                                            tax_rate_value=2000), service_key, None)
    goods = provider.push_product(product(name="Cable", type=ProductType.PRODUCT, ledger_account_id=accounts["sales"],
                                          unit_price=500, currency="EUR"), key(), None)
    held = item(quickbooks_raw, gb, service.platform_id)
    assert (held["Name"], held["Type"], held["Description"], held["UnitPrice"]) == ("Installation", "Service",
                                                                                     "On site", 120)
    assert held["Sku"] == f"[booksync:{service_key}]"
    assert held["IncomeAccountRef"]["value"] == accounts["services"], "the first income account"
    assert held["SalesTaxCodeRef"]["value"] == codes["default"], "the 20% code"
    other = item(quickbooks_raw, gb, goods.platform_id)
    assert other["Type"] == "NonInventory" and other["IncomeAccountRef"]["value"] == accounts["sales"]
    assert "UnitPrice" not in other or other["UnitPrice"] in (None, 0), "a price in EUR is no GBP price"


def test_a_us_item_is_taxable_or_not(us: Books, quickbooks_raw: QuickBooksRaw) -> None:
    with us.provider() as provider:
        taxed = provider.push_product(product(tax_rate_value=775), key(), None)  # California: 6.25 + 1 + 0.5
        untaxed = provider.push_product(product(tax_rate_value=0), key(), None)
    assert item(quickbooks_raw, us, taxed.platform_id)["Taxable"] is True
    assert item(quickbooks_raw, us, untaxed.platform_id)["Taxable"] is False


def test_an_item_of_that_name_is_adopted_once_and_one_booksync_pushed_for_another_key_is_a_clash(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    consulting = gb.company.seeded["items"]["consulting"]  # a person's item, no SKU
    first_key = key()
    adopted = provider.push_product(product(name="Consulting", unit_price=15_000), first_key, None)
    assert adopted.platform_id == consulting and not adopted.created
    assert item(quickbooks_raw, gb, consulting)["Sku"] == f"[booksync:{first_key}]"
    with pytest.raises(DataError) as caught:
        provider.push_product(product(name="Consulting"), key(), None)
    assert caught.value.field == "name" and "booksync pushed for another product" in caught.value.message


def test_what_quickbooks_would_refuse_is_refused_before_anything_is_sent(gb: Books) -> None:
    accounts = gb.company.seeded["accounts"]
    recording = Recording()
    with gb.provider(transport=recording) as provider:
        outcomes = {o.key: o.error for o in provider.push_products([
            PushRequest(product(name="Parent:Child"), "colon"),
            PushRequest(product(ledger_account_id=accounts["office"]), "expense account"),
            PushRequest(product(ledger_account_id="987654"), "unknown account"),
            PushRequest(product(tax_rate_value=1900), "rate"),
            PushRequest(product(), "gone", platform_id="987654"),
        ])}
    assert recording.writes() == []
    assert {k: getattr(e, "field", None) if not isinstance(e, NotFoundError) else "NotFoundError"
            for k, e in outcomes.items()} == {"colon": "name", "expense account": "ledger_account_id",
                                               "unknown account": "ledger_account_id", "rate": "tax_rate_value",
                                               "gone": "NotFoundError"}
    assert "sells into an income account" in str(outcomes["expense account"])


def test_a_batch_is_one_batch_call_and_an_item_renamed_in_quickbooks_is_found_by_its_sku(
    gb: Books, quickbooks_raw: QuickBooksRaw
) -> None:
    requests = [PushRequest(product(), key()) for _ in range(3)]
    recording = Recording()
    with gb.provider(transport=recording) as provider:
        created = list(provider.push_products(requests))
    (write,) = recording.writes()
    assert write.url.path.endswith("/batch") and all(o.result and o.result.created for o in created)
    renamed = created[0].result
    assert renamed is not None
    quickbooks_raw.update(gb.company, "Item", renamed.platform_id, Name="Renamed by a person")
    before = len(quickbooks_raw.state(gb.realm_id, "Item"))
    with gb.provider() as provider:
        again = provider.push_product(requests[0].item, requests[0].key, None)
    assert again.platform_id == renamed.platform_id and not again.created
    assert len(quickbooks_raw.state(gb.realm_id, "Item")) == before
    assert item(quickbooks_raw, gb, renamed.platform_id)["Name"] == requests[0].item.name, "booksync's name is back"


def test_an_invoice_line_selling_a_product_names_its_item_instead_of_the_default(
    gb: Books, provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    sold = provider.push_product(product(), key(), None)
    invoice = provider.push_document(document(DocumentKind.RECEIVABLE, gb.customer(),
                                              line(9_900, rate=2000, product_platform_id=sold.platform_id),
                                              line(100, rate=2000), currency="GBP"), key(), None)
    held = next(i for i in quickbooks_raw.state(gb.realm_id, "Invoice") if i["Id"] == invoice.platform_id)
    refs = [ln["SalesItemLineDetail"]["ItemRef"]["value"] for ln in held["Line"] if "SalesItemLineDetail" in ln]
    assert refs == [sold.platform_id, gb.company.seeded["items"]["services"]]
    bill = provider.push_document(document(DocumentKind.PAYABLE, gb.vendor(),
                                           line(1_000, rate=2000, product_platform_id=sold.platform_id),
                                           currency="GBP"), key(), None)
    assert bill.totals is not None and bill.totals.total_amount == 1_200, "a bill line posts to its account"
