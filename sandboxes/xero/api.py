"""The Accounting API's operations (``/api.xro/2.0/...``) on a tenant's books: what each answers.

Each handler gets the validated request and returns ``(status, body)``; the app adds the envelope,
checks the answer against the definition and commits. Lists follow Xero's documented parameters:
``If-Modified-Since`` (objects changed after it), ``where`` (``Field=="value"``, ``Field==guid("…")``,
``Field==true`` joined by ``AND``/``OR``), ``IDs``, ``Statuses``, ``ContactIDs``, ``InvoiceNumbers``,
``includeArchived``, ``searchTerm``, ``order``, and ``page`` with ``pageSize`` (100 by default, at most
1,000) answering Xero's ``pagination`` object. Like Xero, a list of invoices fetched without ``page``
(and without ``IDs``) leaves out the line items. Lists are in order of last update, oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandboxes.xero.books import Books, Outcome
from sandboxes.xero.contract import Operation
from sandboxes.xero.formats import epoch_ms, parse_timestamp
from sandboxes.xero.store import Store

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
ID_FIELDS = ("InvoiceID", "ContactID", "ItemID")  # the ids an error Element may carry (Xero's Element schema)


class ApiError(Exception):
    """A 4xx answer with Xero's error body (``ErrorNumber``, ``Type``, ``Message``, ``Elements``)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("Message", ""))
        self.status = status
        self.body = body


def validation_exception(elements: list[dict[str, Any]], message: str = "A validation exception occurred") -> ApiError:
    return ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": message, "Elements": elements})


@dataclass
class Call:
    """A validated request, as the handlers read it."""

    operation: Operation
    tenant_id: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    now_ms: int
    store: Store

    def books(self) -> Books:
        return Books(self.store, self.tenant_id, self.now_ms)

    def flag(self, name: str, default: bool) -> bool:
        value = self.query.get(name)
        return default if value is None else value.lower() == "true"

    def listed(self, name: str) -> list[str] | None:
        value = self.query.get(name)
        return None if value is None else [part.strip().strip('"') for part in value.split(",") if part.strip()]


Handler = Callable[[Call], tuple[int, Any]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(method: str, template: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[(method, template)] = function
        return function

    return register


# -- lists ------------------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r'^\s*(?P<field>[A-Za-z][\w.]*)\s*(?P<op>==|!=)\s*(?:guid\("(?P<guid>[^"]*)"\)|"(?P<text>[^"]*)"'
    r'|(?P<bool>true|false)|(?P<number>-?\d+(?:\.\d+)?))\s*$', re.IGNORECASE)


def where_filter(expression: str) -> Callable[[dict[str, Any]], bool]:
    """Xero's ``where`` for the forms adapters use; anything else is refused rather than ignored."""
    expression = expression.strip()
    if not expression:
        return lambda doc: True
    disjuncts = []
    for alternative in re.split(r"\s+OR\s+", expression, flags=re.IGNORECASE):
        clauses = []
        for text in re.split(r"\s+AND\s+", _unwrap(alternative), flags=re.IGNORECASE):
            match = _CLAUSE.match(_unwrap(text))
            if match is None:
                raise ApiError(400, {"ErrorNumber": 16, "Type": "QueryParseException",
                                     "Message": f"The local Xero cannot parse the where clause: {text.strip()}"})
            clauses.append(match)
        disjuncts.append(clauses)

    def value_of(doc: dict[str, Any], path: str) -> Any:
        value: Any = doc
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def holds(doc: dict[str, Any], clause: re.Match[str]) -> bool:
        actual = value_of(doc, clause["field"])
        if clause["bool"] is not None:
            equal = actual is (clause["bool"].lower() == "true")
        elif clause["number"] is not None:
            equal = actual is not None and float(actual) == float(clause["number"])
        else:
            expected = clause["guid"] if clause["guid"] is not None else clause["text"]
            equal = str(actual if actual is not None else "").lower() == expected.lower()
        return equal if clause["op"] == "==" else not equal

    return lambda doc: any(all(holds(doc, clause) for clause in clauses) for clauses in disjuncts)


def _unwrap(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return text


def _order(docs: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
    if not order:
        return docs
    field, _, direction = order.strip().partition(" ")
    return sorted(docs, key=lambda d: (d.get(field) is None, str(d.get(field, ""))),
                  reverse=direction.strip().upper() == "DESC")


def list_answer(call: Call, kind: str, key: str, id_field: str, *,
                extra: Callable[[dict[str, Any]], bool] | None = None, pageable: bool = True,
                search: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    since = call.headers.get("if-modified-since")
    since_ms = epoch_ms(parse_timestamp(since)) if since else None
    docs = call.store.list(call.tenant_id, kind, modified_since_ms=since_ms)
    if "where" in call.query:
        keep = where_filter(call.query["where"])
        docs = [doc for doc in docs if keep(doc)]
    ids = call.listed("IDs")
    if ids is not None:
        wanted = {value.lower() for value in ids}
        docs = [doc for doc in docs if str(doc.get(id_field, "")).lower() in wanted]
    if extra is not None:
        docs = [doc for doc in docs if extra(doc)]
    term = call.query.get("searchTerm")
    if term:
        docs = [doc for doc in docs if any(term.lower() in str(doc.get(f, "")).lower() for f in search)]
    docs = _order(docs, call.query.get("order"))
    answer: dict[str, Any] = {}
    page = int(call.query["page"]) if pageable and "page" in call.query else None
    if page is not None:
        size = min(MAX_PAGE_SIZE, max(1, int(call.query.get("pageSize", DEFAULT_PAGE_SIZE))))
        page = max(1, page)
        count = len(docs)
        answer["pagination"] = {"page": page, "pageSize": size, "pageCount": -(-count // size), "itemCount": count}
        docs = docs[(page - 1) * size: page * size]
    answer[key] = docs
    return 200, answer


def one_answer(call: Call, kind: str, key: str, doc_id: str) -> tuple[int, dict[str, Any]]:
    doc = call.store.get(call.tenant_id, kind, doc_id)
    if doc is None:
        raise ApiError(404, {"ErrorNumber": 404, "Type": "NotFoundException",
                             "Message": "The resource you're looking for cannot be found"})
    return 200, {key: [doc]}


# -- writes -----------------------------------------------------------------------------------------

def batch_answer(call: Call, key: str, save: Callable[[Books, dict[str, Any]], Outcome]) -> tuple[int, dict[str, Any]]:
    """Save each element; with ``summarizeErrors=false`` failures are data in a 200, otherwise any failure
    fails the whole batch (nothing is written) with a ValidationException naming each failing element."""
    books = call.books()
    summarize = call.flag("summarizeErrors", True)
    call.store.execute("SAVEPOINT batch")
    outcomes = [save(books, dict(element)) for element in call.body.get(key, [])]
    if summarize and any(not outcome.ok for outcome in outcomes):
        call.store.execute("ROLLBACK TO batch")
        call.store.execute("RELEASE batch")
        elements = []
        for outcome in outcomes:
            if outcome.ok:
                continue
            element: dict[str, Any] = {"ValidationErrors": [{"Message": m} for m in outcome.errors]}
            if outcome.id_field in ID_FIELDS and _is_uuid(outcome.doc.get(outcome.id_field)):
                element[outcome.id_field] = outcome.doc[outcome.id_field]
            elements.append(element)
        raise validation_exception(elements)
    call.store.execute("RELEASE batch")
    docs = [outcome.answer() for outcome in outcomes] if not summarize else [outcome.doc for outcome in outcomes]
    return 200, {key: docs}


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F-]{36}", value) is not None


# -- operations -------------------------------------------------------------------------------------

@handles("GET", "/Organisation")
def get_organisation(call: Call) -> tuple[int, Any]:
    return 200, {"Organisations": call.store.list(call.tenant_id, "organisation")}


@handles("GET", "/Accounts")
def get_accounts(call: Call) -> tuple[int, Any]:
    return list_answer(call, "accounts", "Accounts", "AccountID", pageable=False)


@handles("GET", "/TaxRates")
def get_tax_rates(call: Call) -> tuple[int, Any]:
    return list_answer(call, "taxrates", "TaxRates", "TaxType", pageable=False)


@handles("GET", "/Currencies")
def get_currencies(call: Call) -> tuple[int, Any]:
    return list_answer(call, "currencies", "Currencies", "Code", pageable=False)


@handles("GET", "/Contacts")
def get_contacts(call: Call) -> tuple[int, Any]:
    archived = call.flag("includeArchived", False)
    return list_answer(call, "contacts", "Contacts", "ContactID",
                       extra=None if archived else (lambda doc: doc.get("ContactStatus") != "ARCHIVED"),
                       search=("Name", "FirstName", "LastName", "EmailAddress", "ContactNumber"))


@handles("GET", "/Items")
def get_items(call: Call) -> tuple[int, Any]:
    return list_answer(call, "items", "Items", "ItemID", pageable=False)


@handles("GET", "/Invoices")
def get_invoices(call: Call) -> tuple[int, Any]:
    statuses = {s.upper() for s in call.listed("Statuses") or []}
    contacts = {c.lower() for c in call.listed("ContactIDs") or []}
    numbers = set(call.listed("InvoiceNumbers") or [])

    def keep(doc: dict[str, Any]) -> bool:
        return ((not statuses or doc["Status"] in statuses)
                and (not contacts or doc["Contact"]["ContactID"].lower() in contacts)
                and (not numbers or doc.get("InvoiceNumber") in numbers))

    status, answer = list_answer(call, "invoices", "Invoices", "InvoiceID", extra=keep,
                                 search=("InvoiceNumber", "Reference"))
    if "page" not in call.query and "IDs" not in call.query:
        answer["Invoices"] = [{**doc, "LineItems": []} for doc in answer["Invoices"]]
    return status, answer


@handles("GET", "/Payments")
def get_payments(call: Call) -> tuple[int, Any]:
    return list_answer(call, "payments", "Payments", "PaymentID")


@handles("GET", "/Payments/{PaymentID}")
def get_payment(call: Call) -> tuple[int, Any]:
    return one_answer(call, "payments", "Payments", call.operation.params["PaymentID"])


@handles("PUT", "/Payments")
def create_payments(call: Call) -> tuple[int, Any]:
    return batch_answer(call, "Payments", lambda books, p: books.save_payment(p))


@handles("POST", "/Payments")
def create_payment(call: Call) -> tuple[int, Any]:
    call.body = {"Payments": [call.body]}
    return batch_answer(call, "Payments", lambda books, p: books.save_payment(p))


@handles("POST", "/Payments/{PaymentID}")
def delete_payment(call: Call) -> tuple[int, Any]:
    if str(call.body.get("Status", "")).upper() != "DELETED":
        raise validation_exception([{"ValidationErrors": [{"Message": "A payment can only be updated to DELETED."}]}])
    target = call.operation.params["PaymentID"]
    call.body = {"Payments": [call.body]}
    return batch_answer(call, "Payments", lambda books, p: books.delete_payment(target))


def _writes(name: str, kind: str, id_field: str, save: str) -> None:
    """GET one, PUT (create), POST (update or create) and POST one (update) of a collection whose books
    method ``save`` takes one element (``Books.save_contact``, ``save_item``, ``save_invoice``)."""
    one = f"/{name}/{{{id_field}}}"

    def saver(create_only: bool, target: str | None = None) -> Callable[[Books, dict[str, Any]], Outcome]:
        return lambda books, element: getattr(books, save)(element, create_only=create_only, target_id=target)

    handles("GET", one)(lambda call: one_answer(call, kind, name, call.operation.params[id_field]))
    handles("PUT", f"/{name}")(lambda call: batch_answer(call, name, saver(True)))
    handles("POST", f"/{name}")(lambda call: batch_answer(call, name, saver(False)))
    handles("POST", one)(lambda call: batch_answer(call, name, saver(False, call.operation.params[id_field])))


for _collection in (("Contacts", "contacts", "ContactID", "save_contact"), ("Items", "items", "ItemID", "save_item"),
                    ("Invoices", "invoices", "InvoiceID", "save_invoice")):
    _writes(*_collection)
