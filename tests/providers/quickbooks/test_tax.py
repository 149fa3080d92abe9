"""Tax in both of QuickBooks' models, on the local QuickBooks: a US company (one sales tax per invoice through
``TxnTaxDetail``, lines TAX/NON, no tax on bills) and a UK one (a tax code on every line)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from providers.errors import DataError
from providers.quickbooks import QuickBooksProvider
from providers.types import DocumentKind
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.conftest_quickbooks import QuickBooksRaw
from tests.providers.quickbooks.support import Books, document, key, line

PAYABLE, RECEIVABLE = DocumentKind.PAYABLE, DocumentKind.RECEIVABLE


@pytest.fixture(scope="module")
def us(quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw) -> Books:
    return Books(quickbooks_sandbox, quickbooks_raw.new_company("Tax US Inc", country="US"))


@pytest.fixture(scope="module")
def gb(quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw) -> Books:
    return Books(quickbooks_sandbox, quickbooks_raw.new_company("Tax UK Ltd", country="GB", currency="USD"))


@pytest.fixture
def us_provider(us: Books) -> Iterator[QuickBooksProvider]:
    with us.provider() as provider:
        yield provider


@pytest.fixture
def gb_provider(gb: Books) -> Iterator[QuickBooksProvider]:
    with gb.provider() as provider:
        yield provider


def raw(quickbooks_raw: QuickBooksRaw, books: Books, entity: str, entity_id: str) -> dict:
    return next(o for o in quickbooks_raw.state(books.realm_id, entity) if o["Id"] == entity_id)


def test_check_says_which_tax_model_a_company_has(us_provider: QuickBooksProvider, gb_provider: QuickBooksProvider
                                                  ) -> None:
    us_check, gb_check = us_provider.check(), gb_provider.check()
    assert us_check.details["tax_model"] == "us" and "US sales tax" in us_check.details["type"]
    assert gb_check.details["tax_model"] == "global" and "tax code per line" in gb_check.details["type"]
    assert us_check.books_id == f"quickbooks:{us_provider.realm_id}"
    assert gb_check.details["country"] == "GB" and gb_check.details["base_currency"] == "USD"


def test_a_us_invoice_charges_one_sales_tax_for_its_taxable_lines(
    us: Books, us_provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    rates = {rate.name: rate for rate in us_provider.list_tax_rates()}
    assert {"TAX", "NON"}.isdisjoint(rates), "US pseudo-codes are not rates"
    california = rates["California"]
    assert california.effective_tax_rate == 775 and len(california.components) == 3
    invoice = document(RECEIVABLE, us.customer(), line(10_000, "2", rate=775), line(5_000, rate=0),
                       line(2_500, rate=None))
    result = us_provider.push_document(invoice, key(), None, may_exist=False)
    held = raw(quickbooks_raw, us, "Invoice", result.platform_id)
    assert held["TxnTaxDetail"]["TxnTaxCodeRef"]["value"] == california.platform_id
    assert [line["SalesItemLineDetail"]["TaxCodeRef"]["value"] for line in held["Line"][:3]] == ["TAX", "NON", "NON"]
    assert result.totals is not None
    assert (result.totals.subtotal, result.totals.tax_amount, result.totals.total_amount) == (27_500, 1_550, 29_050)
    assert Decimal(str(held["TotalAmt"])) == Decimal("290.50")
    pulled = us_provider.get_document(RECEIVABLE, result.platform_id)
    assert [(li.tax_rate_value, li.tax_rate_platform_id) for li in pulled.lines] == [
        (775, california.platform_id), (0, None), (0, None)]
    assert pulled.tax_amount == 1_550


def test_a_us_invoice_with_two_sales_taxes_and_a_taxed_us_bill_are_refused_before_sending(
    us: Books, us_provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    before = {entity: len(quickbooks_raw.state(us.realm_id, entity)) for entity in ("Invoice", "Bill")}
    with pytest.raises(DataError) as two:
        us_provider.push_document(document(RECEIVABLE, us.customer(), line(rate=775), line(rate=625)), key(), None)
    assert two.value.field == "lines[1].tax_rate_value" and "one sales tax" in two.value.message
    assert "7.75%" in two.value.message and "6.25%" in two.value.message
    with pytest.raises(DataError) as bill:
        us_provider.push_document(document(PAYABLE, us.vendor(), line(rate=775)), key(), None)
    assert bill.value.field == "lines[0].tax_rate_value" and "no sales tax on bills" in bill.value.message
    with pytest.raises(DataError) as missing:
        us_provider.push_document(document(RECEIVABLE, us.customer(), line(rate=900)), key(), None)
    assert missing.value.message == "tax rate 9% does not exist in the accounting system"
    assert {entity: len(quickbooks_raw.state(us.realm_id, entity)) for entity in ("Invoice", "Bill")} == before
    untaxed = us_provider.push_document(document(PAYABLE, us.vendor(), line(rate=0)), key(), None)
    assert us_provider.get_document(PAYABLE, untaxed.platform_id).tax_amount == 0


def test_a_global_company_taxes_each_line_by_its_own_code(
    gb: Books, gb_provider: QuickBooksProvider, quickbooks_raw: QuickBooksRaw
) -> None:
    codes = {rate.name: rate.platform_id for rate in gb_provider.list_tax_rates()}
    bill = document(PAYABLE, gb.vendor(), line(10_000, rate=2000), line(10_000, rate=500), line(10_000, rate=None))
    result = gb_provider.push_document(bill, key(), None)
    held = raw(quickbooks_raw, gb, "Bill", result.platform_id)
    assert held["GlobalTaxCalculation"] == "TaxExcluded"
    assert [line["AccountBasedExpenseLineDetail"]["TaxCodeRef"]["value"] for line in held["Line"]] == [
        codes["20.0% S"], codes["5.0% R"], codes["Exempt"]], "a line without a rate takes the exempt code"
    assert result.totals is not None and result.totals.tax_amount == 2_500
    untaxed = gb_provider.push_document(document(RECEIVABLE, gb.customer(), line(7_000)), key(), None)
    held = raw(quickbooks_raw, gb, "Invoice", untaxed.platform_id)
    assert held["GlobalTaxCalculation"] == "NotApplicable", "a document without any rate carries no tax at all"
    assert "TaxCodeRef" not in held["Line"][0]["SalesItemLineDetail"]
    assert gb_provider.get_document(RECEIVABLE, untaxed.platform_id).lines[0].tax_rate_value is None
    by_id = gb_provider.push_document(
        document(RECEIVABLE, gb.customer(), line(1_000, tax_rate_platform_id=codes["5.0% R"])), key(), None)
    assert by_id.totals is not None and by_id.totals.tax_amount == 50
    with pytest.raises(DataError) as unknown:
        gb_provider.push_document(document(PAYABLE, gb.vendor(), line(tax_rate_platform_id="999")), key(), None)
    assert unknown.value.field == "lines[0].tax_rate_platform_id"
