"""Documents: Bill, Invoice, Payment, BillPayment, with amounts, tax and balances as QuickBooks computes them.

- ``Invoice`` lines are ``SalesItemLineDetail`` (an ``ItemRef``; the company's default "Services" item when
  none is sent, as QuickBooks does) or ``DescriptionOnly``; ``Amount`` must equal ``UnitPrice × Qty`` when
  all three are sent (6070); QuickBooks appends a ``SubTotalLineDetail`` line to the answer.
- ``Bill`` lines are ``AccountBasedExpenseLineDetail`` with an ``AccountRef``. US companies put no sales
  tax on bills; other companies tax them through each line's ``TaxCodeRef`` (``PurchaseTaxRateList``).
- ``TotalAmt`` = lines + ``TxnTaxDetail.TotalTax``; ``Balance`` = ``TotalAmt`` − what payments apply. A
  ``Payment`` applies to invoices and a ``BillPayment`` to bills through ``Line[].LinkedTxn``; the paid
  document gets a new version (``SyncToken``, ``LastUpdatedTime``) with its new ``Balance`` and a
  ``LinkedTxn`` back to the payment. Deleting or voiding a payment gives the balance back.
- A transaction in a foreign currency (multicurrency companies only) carries ``ExchangeRate`` (the one
  sent, or the sandbox's table) and ``HomeTotalAmt``/``HomeBalance``; its currency is its party's.
- Void (``operation=void`` on invoices; ``operation=update&include=void`` on payments, as Intuit documents)
  zeroes the amounts and notes "Voided"; bills can't be voided. A document with payments applied can be
  neither voided nor deleted until the payments are.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandboxes.quickbooks import faults
from sandboxes.quickbooks.books import Books, Company, Kind
from sandboxes.quickbooks.names import currency_ref
from sandboxes.quickbooks.tax import TaxComponent, TaxedLine, compute, exact, money, number, split_inclusive

US_TAX_CODES = ("TAX", "NON")


def voided_note(document: dict[str, Any]) -> str:
    """Intuit injects "Voided" into PrivateNote, prepended to any text already there."""
    note = document.get("PrivateNote")
    return f"Voided - {note}" if note and not str(note).startswith("Voided") else "Voided"


def _ref(target: dict[str, Any], name_field: str = "DisplayName") -> dict[str, str]:
    return {"value": target["Id"], "name": target.get(name_field) or target.get("Name", "")}


def _amount(value: Any, element: str) -> Decimal:
    try:
        return money(value)
    except ValueError:
        raise faults.schema_rejected(element, f"{value!r} is not an amount") from None


def tax_components(books: Books, company: Company, code: dict[str, Any], list_name: str) -> tuple[TaxComponent, ...]:
    components = []
    for detail in code.get(list_name, {}).get("TaxRateDetail", []):
        rate = books.lookup(company.realm_id, "TaxRate", detail["TaxRateRef"]["value"])
        if rate is None:
            continue
        components.append(TaxComponent(rate["Id"], rate["Name"], exact(rate.get("RateValue", 0)),
                                       detail.get("TaxTypeApplicable") == "TaxOnTax", int(detail.get("TaxOrder", 0))))
    return tuple(components)


class _Document(Kind):
    """What Bill and Invoice share: party, currency, lines, tax, totals and balance."""

    party: str
    party_element: str
    line_detail: str
    rate_list: str
    deletable = True
    queryable = Kind.queryable | {"docnumber", "txndate", "duedate", "totalamt", "balance", "privatenote"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        realm = company.realm_id
        party = books.resolve(realm, body.get(self.party_element), self.party, f"{self.name}.{self.party_element}")
        assert party is not None
        body[self.party_element] = _ref(party)
        body["CurrencyRef"] = currency_ref(books, company, body.get("CurrencyRef") or party.get("CurrencyRef"),
                                           f"{self.name}.CurrencyRef")
        if body["CurrencyRef"]["value"] != party.get("CurrencyRef", {}).get("value", company.currency):
            raise faults.business(
                f"{self.name}.CurrencyRef {body['CurrencyRef']['value']} differs from the "
                f"{self.party.lower()}'s currency {party['CurrencyRef']['value']}", element="CurrencyRef")
        body.setdefault("TxnDate", books.clock.today().isoformat())
        body.setdefault("DueDate", body["TxnDate"])
        lines = [line for line in body.get("Line") or [] if line.get("DetailType") != "SubTotalLineDetail"]
        if not lines:
            raise faults.required(f"{self.name}.Line", "at least one line")
        if not company.us_tax:
            body.setdefault("GlobalTaxCalculation", "TaxExcluded")
        else:
            body.pop("GlobalTaxCalculation", None)  # "Not applicable to US companies" (Intuit's Invoice reference)
        taxed: list[TaxedLine] = []
        subtotal = Decimal(0)
        out_lines = []
        for index, line in enumerate(lines, start=1):
            net, components = self.line(books, company, body, line, index)
            subtotal += net
            if components:
                taxed.append(TaxedLine(net, components))
            line["Id"] = str(index)
            line["LineNum"] = index
            out_lines.append(line)
        result = compute(taxed)
        if self.taxes_transaction(company):
            detail: dict[str, Any] = {"TotalTax": number(result.total_tax)}
            code = self.transaction_code(books, company, body)
            if code is not None:
                detail["TxnTaxCodeRef"] = {"value": code["Id"], "name": code["Name"]}
            if result.tax_lines:
                detail["TaxLine"] = result.tax_lines
            body["TxnTaxDetail"] = detail
        else:
            body.pop("TxnTaxDetail", None)
        total = subtotal + result.total_tax
        if self.name == "Invoice":
            out_lines.append({"Amount": number(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        body["Line"] = out_lines
        body["TotalAmt"] = number(total)
        applied = books.applied(realm, self.name, existing["Id"]) if existing else Decimal(0)
        if applied > total:
            raise faults.business(f"{self.name} total {total} is below the {applied} already paid on it", element="TotalAmt")
        body["Balance"] = number(total - applied)
        self.currency_amounts(company, body, total, total - applied)
        links = [{"TxnId": source_id, "TxnType": source}
                 for source, source_id in (books.sources(realm, self.name, existing["Id"]) if existing else [])]
        if links:
            body["LinkedTxn"] = links
        else:
            body.pop("LinkedTxn", None)
        return body

    def taxes_transaction(self, company: Company) -> bool:
        return True

    def transaction_code(self, books: Books, company: Company, body: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def line(self, books: Books, company: Company, body: dict[str, Any], line: dict[str, Any], index: int
             ) -> tuple[Decimal, tuple[TaxComponent, ...]]:
        raise NotImplementedError

    def detail_of(self, line: dict[str, Any], index: int, allowed: tuple[str, ...]) -> dict[str, Any]:
        kind = line.get("DetailType")
        element = f"{self.name}.Line[{index - 1}]"
        if not kind:
            raise faults.required(f"{element}.DetailType")
        if kind not in allowed:
            raise faults.business(f"{element}.DetailType {kind!r} is not supported on a {self.name} by this sandbox "
                                  f"(supported: {', '.join(allowed)})", element="DetailType")
        others = [key for key in line if key.endswith("LineDetail") and key != kind]
        if others:
            raise faults.business(f"{element}: DetailType is {kind} but the line carries {', '.join(others)}",
                                  element="DetailType")
        if kind == "DescriptionOnly":
            return line.setdefault("DescriptionLineDetail", {})
        if kind not in line:
            raise faults.required(f"{element}.{kind}")
        return line[kind]

    def line_tax(self, books: Books, company: Company, body: dict[str, Any], detail: dict[str, Any], index: int,
                 list_name: str) -> tuple[TaxComponent, ...]:
        code_ref = detail.get("TaxCodeRef")
        element = f"{self.name}.Line[{index - 1}].{self.line_detail}.TaxCodeRef"
        if company.us_tax:
            value = (code_ref or {}).get("value", "NON")
            if value not in US_TAX_CODES:
                raise faults.business(f"{element}: a US company's line is TAX or NON, not {value!r}", element="TaxCodeRef")
            detail["TaxCodeRef"] = {"value": value}
            return ()
        if body.get("GlobalTaxCalculation") == "NotApplicable":
            return ()
        if not code_ref:
            raise faults.required(element, "every line needs a tax code in this company")
        code = books.resolve(company.realm_id, code_ref, "TaxCode", element)
        assert code is not None
        detail["TaxCodeRef"] = {"value": code["Id"], "name": code["Name"]}
        return tax_components(books, company, code, list_name)

    def currency_amounts(self, company: Company, body: dict[str, Any], total: Decimal, balance: Decimal) -> None:
        from sandboxes.quickbooks.seed import exchange_rate

        currency = body["CurrencyRef"]["value"]
        if currency == company.currency:
            body.pop("ExchangeRate", None)
            if company.multicurrency:
                body["ExchangeRate"] = 1
            for key in ("HomeTotalAmt", "HomeBalance"):
                body.pop(key, None)
            return
        rate = exact(body.get("ExchangeRate") or exchange_rate(currency, company.currency))
        if rate <= 0:
            raise faults.business("ExchangeRate must be positive", element="ExchangeRate")
        body["ExchangeRate"] = number(rate)
        if self.name == "Invoice":
            body["HomeTotalAmt"] = number(money(total * rate))
        body["HomeBalance"] = number(money(balance * rate))

    def before_delete(self, books: Books, company: Company, existing: dict[str, Any]) -> None:
        if books.sources(company.realm_id, self.name, existing["Id"]):
            raise faults.business(f"{self.name} {existing['Id']} has payments applied; delete or void them first",
                                  code="6540", element="LinkedTxn")


class InvoiceKind(_Document):
    name = "Invoice"
    party = "Customer"
    party_element = "CustomerRef"
    line_detail = "SalesItemLineDetail"
    rate_list = "SalesTaxRateList"
    voidable = True
    queryable = _Document.queryable | {"customerref"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        realm = company.realm_id
        number_given = body.get("DocNumber")
        if not number_given:
            body["DocNumber"] = existing.get("DocNumber") if existing and existing.get("DocNumber") else str(
                books.store.next_value(realm, "DocNumber:Invoice", start=1001))
        elif "allowduplicatedocnum" not in books.include and books.store.find(
                realm, ("Invoice",), "DocNumber", str(number_given), exclude=("Invoice", existing["Id"]) if existing else None):
            raise faults.duplicate_doc_number(str(number_given))
        body.setdefault("PrintStatus", "NotSet")
        body.setdefault("EmailStatus", "NotSet")
        body.setdefault("ApplyTaxAfterDiscount", False)
        return super().prepare(books, company, body, existing)

    def transaction_code(self, books: Books, company: Company, body: dict[str, Any]) -> dict[str, Any] | None:
        if not company.us_tax:
            return None
        ref = (body.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef")
        if ref is None:
            default = books.store.get_meta(f"default_sales_tax_code:{company.realm_id}")
            ref = {"value": default} if default else None
        if ref is None:
            return None
        return books.resolve(company.realm_id, ref, "TaxCode", "Invoice.TxnTaxDetail.TxnTaxCodeRef")

    def line(self, books: Books, company: Company, body: dict[str, Any], line: dict[str, Any], index: int
             ) -> tuple[Decimal, tuple[TaxComponent, ...]]:
        detail = self.detail_of(line, index, ("SalesItemLineDetail", "DescriptionOnly"))
        element = f"Invoice.Line[{index - 1}]"
        if line["DetailType"] == "DescriptionOnly":
            line["Amount"] = number(_amount(line.get("Amount", 0), f"{element}.Amount"))
            return money(line["Amount"]), ()
        item_ref = detail.get("ItemRef") or {"value": books.store.get_meta(f"default_item:{company.realm_id}") or "1"}
        item = books.resolve(company.realm_id, item_ref, "Item", f"{element}.SalesItemLineDetail.ItemRef")
        assert item is not None
        detail["ItemRef"] = {"value": item["Id"], "name": item["Name"]}
        qty = exact(detail["Qty"]) if "Qty" in detail else None
        price = exact(detail["UnitPrice"]) if "UnitPrice" in detail else None
        if "Amount" in line:
            amount = _amount(line["Amount"], f"{element}.Amount")
            if qty is not None and price is not None and money(qty * price) != amount:
                raise faults.validation("Amount is not equal to UnitPrice * Qty",
                                        f"Amount is not equal to UnitPrice * Qty. Supplied value:{line['Amount']} "
                                        f"({element})", "6070", "Amount")
        elif qty is not None and price is not None:
            amount = money(qty * price)
        elif price is not None:
            amount = money(price)
            detail["Qty"] = 1
        else:
            raise faults.required(f"{element}.Amount")
        components = self.line_tax(books, company, body, detail, index, self.rate_list)
        if body.get("GlobalTaxCalculation") == "TaxInclusive" and components:
            gross = _amount(detail.get("TaxInclusiveAmt", amount), f"{element}.TaxInclusiveAmt")
            amount = split_inclusive(gross, components)
            detail["TaxInclusiveAmt"] = number(gross)
            if "UnitPrice" in detail and "Qty" in detail:
                detail.pop("UnitPrice")
        line["Amount"] = number(amount)
        if company.us_tax:
            taxable = detail["TaxCodeRef"]["value"] == "TAX"
            code = self.transaction_code(books, company, body) if taxable else None
            return amount, (tax_components(books, company, code, self.rate_list) if code else ())
        return amount, components

    def voided(self, books: Books, company: Company, existing: dict[str, Any]) -> dict[str, Any]:
        if books.sources(company.realm_id, "Invoice", existing["Id"]):
            raise faults.business(f"Invoice {existing['Id']} has payments applied; void or delete them first", code="6540")
        for line in existing.get("Line", []):
            line["Amount"] = 0
            detail = line.get("SalesItemLineDetail")
            if detail is not None:
                detail.pop("TaxInclusiveAmt", None)
                if "UnitPrice" in detail:
                    detail["UnitPrice"] = 0
        existing["TxnTaxDetail"] = {"TotalTax": 0}
        existing["TotalAmt"] = 0
        existing["Balance"] = 0
        for key in ("HomeTotalAmt", "HomeBalance"):
            if key in existing:
                existing[key] = 0
        existing["PrivateNote"] = voided_note(existing)
        return existing


class BillKind(_Document):
    name = "Bill"
    party = "Vendor"
    party_element = "VendorRef"
    line_detail = "AccountBasedExpenseLineDetail"
    rate_list = "PurchaseTaxRateList"
    queryable = _Document.queryable | {"vendorref"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        ap_ref = body.get("APAccountRef") or {"value": books.store.get_meta(f"ap_account:{company.realm_id}")}
        account = books.resolve(company.realm_id, ap_ref, "Account", "Bill.APAccountRef")
        assert account is not None
        if account.get("AccountType") != "Accounts Payable":
            raise faults.business("Bill.APAccountRef must be an Accounts Payable account", element="APAccountRef")
        body["APAccountRef"] = {"value": account["Id"], "name": account["Name"]}
        return super().prepare(books, company, body, existing)

    def taxes_transaction(self, company: Company) -> bool:
        return not company.us_tax

    def line(self, books: Books, company: Company, body: dict[str, Any], line: dict[str, Any], index: int
             ) -> tuple[Decimal, tuple[TaxComponent, ...]]:
        detail = self.detail_of(line, index, ("AccountBasedExpenseLineDetail",))
        element = f"Bill.Line[{index - 1}]"
        account = books.resolve(company.realm_id, detail.get("AccountRef"), "Account",
                                f"{element}.AccountBasedExpenseLineDetail.AccountRef")
        assert account is not None
        if account.get("AccountType") in ("Accounts Payable", "Accounts Receivable"):
            raise faults.business(f"{element}: an expense line can't post to {account['AccountType']}", element="AccountRef")
        detail["AccountRef"] = {"value": account["Id"], "name": account["Name"]}
        if "Amount" not in line:
            raise faults.required(f"{element}.Amount")
        amount = _amount(line["Amount"], f"{element}.Amount")
        detail.setdefault("BillableStatus", "NotBillable")
        components = self.line_tax(books, company, body, detail, index, self.rate_list)
        if company.us_tax:
            components = ()
        if body.get("GlobalTaxCalculation") == "TaxInclusive" and components:
            gross = _amount(detail.get("TaxInclusiveAmt", amount), f"{element}.TaxInclusiveAmt")
            amount = split_inclusive(gross, components)
            detail["TaxInclusiveAmt"] = number(gross)
        line["Amount"] = number(amount)
        return amount, components


class _PaymentBase(Kind):
    """Payment (to invoices) and BillPayment (to bills): applications kept in the store, balances recomputed."""

    party: str
    party_element: str
    target: str
    deletable = True
    voidable = True
    void_by_update = True
    queryable = Kind.queryable | {"txndate", "totalamt", "docnumber"}

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        realm = company.realm_id
        party = books.resolve(realm, body.get(self.party_element), self.party, f"{self.name}.{self.party_element}")
        assert party is not None
        body[self.party_element] = _ref(party)
        body["CurrencyRef"] = currency_ref(books, company, body.get("CurrencyRef") or party.get("CurrencyRef"),
                                           f"{self.name}.CurrencyRef")
        body.setdefault("TxnDate", books.clock.today().isoformat())
        if "TotalAmt" not in body:
            raise faults.required(f"{self.name}.TotalAmt")
        total = _amount(body["TotalAmt"], f"{self.name}.TotalAmt")
        if total < 0:
            raise faults.business(f"{self.name}.TotalAmt can't be negative", element="TotalAmt")
        applied_sum = Decimal(0)
        mine = (self.name, existing["Id"]) if existing else None
        per_target: dict[str, Decimal] = {}
        lines = []
        for index, line in enumerate(body.get("Line") or []):
            element = f"{self.name}.Line[{index}]"
            amount = _amount(line.get("Amount", 0), f"{element}.Amount")
            links = line.get("LinkedTxn") or []
            if len(links) != 1:
                raise faults.business(f"{element} must link exactly one {self.target}", element="LinkedTxn")
            link = links[0]
            if link.get("TxnType") != self.target:
                raise faults.business(f"{element}.LinkedTxn.TxnType must be {self.target}", element="TxnType")
            document = books.lookup(realm, self.target, str(link.get("TxnId")))
            if document is None:
                raise faults.invalid_reference(f"{element}.LinkedTxn.TxnId", self.target, str(link.get("TxnId")))
            if document[self.party_element]["value"] != party["Id"]:
                raise faults.business(f"{element}: {self.target} {document['Id']} belongs to another {self.party.lower()}",
                                      element="LinkedTxn")
            if document["CurrencyRef"]["value"] != body["CurrencyRef"]["value"]:
                raise faults.business(f"{element}: {self.target} {document['Id']} is in {document['CurrencyRef']['value']}",
                                      element="CurrencyRef")
            per_target[document["Id"]] = per_target.get(document["Id"], Decimal(0)) + amount
            open_balance = money(document["TotalAmt"]) - books.applied(realm, self.target, document["Id"], excluding=mine)
            if per_target[document["Id"]] > open_balance:
                raise faults.business(
                    f"{element}: {per_target[document['Id']]} is more than the {open_balance} open on "
                    f"{self.target} {document['Id']}", element="Amount")
            applied_sum += amount
            lines.append({"Amount": number(amount), "LinkedTxn": [{"TxnId": document["Id"], "TxnType": self.target}]})
        if applied_sum > total:
            raise faults.business(f"{self.name}: lines apply {applied_sum}, more than TotalAmt {total}", element="TotalAmt")
        body["Line"] = lines
        body["TotalAmt"] = number(total)
        self.finish(books, company, body, total - applied_sum)
        return body

    def finish(self, books: Books, company: Company, body: dict[str, Any], unapplied: Decimal) -> None:
        return None

    def after_save(self, books: Books, company: Company, body: dict[str, Any], previous: dict[str, Any] | None) -> None:
        applications = [(self.target, line["LinkedTxn"][0]["TxnId"], money(line["Amount"])) for line in body.get("Line", [])]
        self.reapply(books, company, body["Id"], applications)

    def reapply(self, books: Books, company: Company, payment_id: str, applications: list[tuple[str, str, Decimal]]) -> None:
        realm = company.realm_id
        touched = books.set_applications(realm, self.name, payment_id, applications)
        kind = books.kind(self.target)
        for entity, document_id in sorted(touched):
            document = books.lookup(realm, entity, document_id)
            if document is None:
                continue
            applied = books.applied(realm, entity, document_id)
            balance = money(document["TotalAmt"]) - applied
            document["Balance"] = number(balance)
            links = [{"TxnId": sid, "TxnType": s} for s, sid in books.sources(realm, entity, document_id)]
            if links:
                document["LinkedTxn"] = links
            else:
                document.pop("LinkedTxn", None)
            assert isinstance(kind, _Document)
            kind.currency_amounts(company, document, money(document["TotalAmt"]), balance)
            books.touch(realm, entity, document)

    def before_delete(self, books: Books, company: Company, existing: dict[str, Any]) -> None:
        self.reapply(books, company, existing["Id"], [])

    def voided(self, books: Books, company: Company, existing: dict[str, Any]) -> dict[str, Any]:
        self.reapply(books, company, existing["Id"], [])
        existing["Line"] = []
        existing["TotalAmt"] = 0
        if "UnappliedAmt" in existing:
            existing["UnappliedAmt"] = 0
        existing["PrivateNote"] = voided_note(existing)
        return existing


class PaymentKind(_PaymentBase):
    name = "Payment"
    party = "Customer"
    party_element = "CustomerRef"
    target = "Invoice"
    queryable = _PaymentBase.queryable | {"customerref"}

    def finish(self, books: Books, company: Company, body: dict[str, Any], unapplied: Decimal) -> None:
        body["UnappliedAmt"] = number(unapplied)
        body.setdefault("ProcessPayment", False)
        deposit = body.get("DepositToAccountRef") or {"value": books.store.get_meta(f"undeposited_account:{company.realm_id}")}
        account = books.resolve(company.realm_id, deposit, "Account", "Payment.DepositToAccountRef")
        assert account is not None
        body["DepositToAccountRef"] = {"value": account["Id"], "name": account["Name"]}


class BillPaymentKind(_PaymentBase):
    name = "BillPayment"
    party = "Vendor"
    party_element = "VendorRef"
    target = "Bill"
    queryable = _PaymentBase.queryable | {"vendorref"}

    def finish(self, books: Books, company: Company, body: dict[str, Any], unapplied: Decimal) -> None:
        pay_type = body.get("PayType")
        if pay_type not in ("Check", "CreditCard"):
            raise faults.required("BillPayment.PayType", "Check or CreditCard")
        if pay_type == "Check":
            ref = (body.get("CheckPayment") or {}).get("BankAccountRef")
            account = books.resolve(company.realm_id, ref, "Account", "BillPayment.CheckPayment.BankAccountRef")
            assert account is not None
            if account.get("AccountType") != "Bank":
                raise faults.business("BillPayment.CheckPayment.BankAccountRef must be a Bank account", element="BankAccountRef")
            body["CheckPayment"] = {**(body.get("CheckPayment") or {}), "BankAccountRef": {"value": account["Id"], "name": account["Name"]}}
            body["CheckPayment"].setdefault("PrintStatus", "NotSet")
        else:
            ref = (body.get("CreditCardPayment") or {}).get("CCAccountRef")
            account = books.resolve(company.realm_id, ref, "Account", "BillPayment.CreditCardPayment.CCAccountRef")
            assert account is not None
            if account.get("AccountType") != "Credit Card":
                raise faults.business("BillPayment.CreditCardPayment.CCAccountRef must be a Credit Card account",
                                      element="CCAccountRef")
            body["CreditCardPayment"] = {"CCAccountRef": {"value": account["Id"], "name": account["Name"]}}
