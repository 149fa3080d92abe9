"""The Tryton adapter: supplier invoices are payables, customer invoices receivables.

Where a pushed invoice's idempotency key lives: the invoice ``comment`` ends with a marker line
``[booksync:<key>]``, and ``find_pushed`` finds it with one ``search_read`` (``comment like``),
checked exactly on our side. ``reference`` is left to what people use it for: on a bill it is the
supplier's invoice number (Tryton's duplicate-bill warning and payment matching compare it), on a
customer invoice the platform's invoice number; packing the key into it would make the supplier's
number unsearchable by equality and defeat Tryton's own duplicate check. ``comment`` is the one free
text field Tryton neither copies into the accounting moves (``description`` becomes the move lines'
text) nor lets non-accountants edit once the invoice is posted. The memo goes to ``description``.

Counterparts are found by a party identifier (type empty, code ``booksync:<key>``), an indexed
exact match; a party that has no booksync identifier but exactly the pushed name is adopted
(the identifier is added) instead of creating a second one with the same name.

Line accounts: the line's ``ledger_account_id`` when given, otherwise the chart's default expense
(bills) or revenue (invoices) account from the account configuration, which is what Tryton itself
uses for products without their own accounts; failing that, the first open expense/revenue account
by code. Taxes: by ``tax_rate_platform_id``, or the lowest-sequence active top-level percentage tax
whose rate equals ``tax_rate_value`` and whose tax group allows purchases (bills) or sales
(invoices), as Tryton's own invoice line domain requires; a rate with no such tax is a DataError
raised before anything is written.

Pushes are batched (``max_batch``): the keys that may exist are looked up in one ``search_read``, the
new invoices of a batch are created by one ``create`` (Tryton's create is all-or-nothing, so a batch
it refuses is created again one invoice at a time to find the one at fault), their totals and their
lines' amounts are read back in one call, and parties likewise. A first push pays for no key lookup, and
the invoices of a sync check only the parties it has not pushed itself that they exist.

Amounts use the currency's ISO 4217 exponent (``providers.money``). A currency Tryton keeps with other
digits than ISO's is refused rather than scaled; a document in another currency than the company's
carries the currency on every line, as Tryton's line domain requires. ``check`` names the books the
connection reaches: the server, the database and the company (pinned in the connection's settings).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from config.secrets import Credentials
from providers import money
from providers.answers import checked
from providers.base import AccountingProvider, CredentialStore
from providers.errors import DataError, NotFoundError
from providers.addresses import AddressNotAllowed, AddressPolicy, HostNotFound, check_host
from providers.http import HttpSettings, RateLimiter, address_refused, build_client
from providers.registry import register
from providers.tryton import mapping
from providers.tryton.mapping import INVOICE_TYPE, Cursor, Tax
from providers.tryton.payments import TrytonPayments
from providers.tryton.products import TrytonProducts
from providers.tryton.rpc import TrytonRPC, TrytonUserWarning
from providers.types import (
    ConnectionCheck,
    Document,
    DocumentKind,
    DocumentTotals,
    LedgerAccount,
    LineItem,
    OutgoingCounterpart,
    OutgoingDocument,
    OutgoingPayment,
    OutgoingProduct,
    Page,
    PushOutcome,
    PushRequest,
    PushResult,
    TaxRate,
)

log = structlog.get_logger(__name__)

DEFAULT_PAGE_SIZE = 100
ID_BATCH = 1000
INACTIVE_TOO = {"active_test": False}


def check_server_address(url: str, policy: AddressPolicy) -> None:
    """Refuse a server URL that leads where a tenant must not send booksync (loopback, the private
    network, cloud metadata) before any connection is made; the client checks again at every connect."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        check_host(parts.hostname or "", port, policy)
    except AddressNotAllowed as exc:
        raise address_refused(exc, provider="Tryton") from None
    except HostNotFound as exc:
        raise DataError(f"Tryton server URL: {exc}", field="url") from None


@register("tryton")
class TrytonProvider(AccountingProvider):
    display_name = "Tryton"
    max_batch = 50
    supports_update = True
    supports_revoke = False
    uses_oauth = False
    supports_products = True
    supports_payments = True

    def __init__(
        self,
        settings: Mapping[str, Any],
        credentials: Credentials,
        *,
        credential_store: CredentialStore | None = None,
        transport: httpx.BaseTransport | None = None,
        http_settings: HttpSettings | None = None,
        rate_limiter: RateLimiter | None = None,
        page_size: int | None = None,
    ) -> None:
        """``transport`` and ``page_size`` exist for tests (fault injection, paging with 2).

        The server URL is the tenant's: before anything connects, every address it resolves to must be
        one ``http_settings.tenant_url_policy`` allows, and every connection checks again."""
        super().__init__(settings, credentials, credential_store=credential_store)
        self.validate_settings(settings, credentials)
        http_settings = http_settings or HttpSettings.from_settings()
        if transport is None:  # a transport given replaces the network (tests), and where it goes
            check_server_address(str(settings["url"]), http_settings.tenant_url_policy)
        self.page_size = int(page_size or settings.get("page_size") or DEFAULT_PAGE_SIZE)
        self.post_documents = bool(settings.get("post_documents", False))
        self._client = build_client(
            provider="tryton",
            settings=http_settings,
            transport=transport,
            rate_limiter=rate_limiter,
            rate_limit_key=f"tryton:{settings['url']}/{settings['database']}",
            address_policy=http_settings.tenant_url_policy,
        )
        self._rpc = TrytonRPC(
            self._client,
            url=str(settings["url"]),
            database=str(settings["database"]),
            credentials=credentials,
            company=settings.get("company"),
        )
        self._taxes: dict[int, Tax] | None = None
        self._currencies: dict[str, tuple[int, int]] | None = None
        self._default_accounts: dict[str, int] = {}
        self._party_defaults_cache: dict[tuple[str, int], dict[str, Any]] = {}
        #: Parties this provider has pushed or found (read back just after): the invoices of the same sync
        #: that name them need not look them up again.
        self._parties_seen: set[int] = set()
        self._company_currency_id: int | None = None
        self._company_currency_code: str | None = None
        self.products = TrytonProducts(self)
        self.payments = TrytonPayments(self)

    # -- connection -------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        url = settings.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise DataError("url must be the Tryton server's http(s) address, e.g. http://127.0.0.1:8000", field="url")
        try:
            parts.port  # noqa: B018 -- raises for a port out of range
        except ValueError:
            raise DataError("url has a port that is not a number from 1 to 65535", field="url") from None
        if parts.username is not None or parts.password is not None:
            raise DataError("url must not hold a user name or password (give them as credentials)", field="url")
        database = settings.get("database")
        if not isinstance(database, str) or not database.strip():
            raise DataError("database must name the Tryton database", field="database")
        if not isinstance(settings.get("post_documents", False), bool):
            raise DataError("post_documents must be true or false", field="post_documents")
        company = settings.get("company")
        if company is not None and (isinstance(company, bool) or not isinstance(company, int) or company <= 0):
            raise DataError("company must be a Tryton company id (a positive integer)", field="company")
        page_size = settings.get("page_size")
        if page_size is not None and (isinstance(page_size, bool) or not isinstance(page_size, int)
                                      or not 1 <= page_size <= 1000):
            raise DataError("page_size must be an integer from 1 to 1000", field="page_size")
        for name in ("username", "password"):
            value = credentials.get(name)
            if not isinstance(value, str) or not value:
                raise DataError(f"{name} is required to log in to Tryton", field=name)

    @checked("the connection check")
    def check(self) -> ConnectionCheck:
        company = self._rpc.company
        (record,) = self._rpc.model("company.company", "read", [company], ["rec_name", "currency.code"])
        return ConnectionCheck(
            organization_name=record["rec_name"],
            books_id=self.books_id(company),
            details={
                "company_id": str(company),
                "currency": (record.get("currency.") or {}).get("code", ""),
                "user": self._rpc.username,
            },
            pinned_settings={"company": company},
        )

    def books_id(self, company: int) -> str:
        """The server (scheme, host and port, as typed case aside), the database and the company."""
        parts = urlsplit(str(self.settings["url"]))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"tryton:{parts.scheme}://{(parts.hostname or '').lower()}:{port}/{self.settings['database']}/{company}"

    def close(self) -> None:
        try:
            self._rpc.close()
        finally:
            self._client.close()

    # -- pull -------------------------------------------------------------------------------
    @checked("the list of taxes")
    def list_tax_rates(self) -> Iterator[TaxRate]:
        taxes = self._tax_map(refresh=True)
        for tax in sorted(taxes.values(), key=lambda t: (t.sequence is None, t.sequence or 0, t.id)):
            if tax.parent is None and tax.type in ("percentage", "none"):
                yield mapping.tax_rate(tax, taxes)

    @checked("the chart of accounts")
    def list_ledger_accounts(self) -> Iterator[LedgerAccount]:
        last = 0
        while True:
            records = self._rpc.model(
                "account.account", "search_read",
                [("type", "!=", None), ("company", "=", self._rpc.company), ("id", ">", last)],
                0, ID_BATCH, [["id", "ASC"]], mapping.ACCOUNT_FIELDS, context=INACTIVE_TOO,
            )
            for record in sorted(records, key=lambda r: r.get("code") or ""):
                yield mapping.ledger_account(record)
            if len(records) < ID_BATCH:
                return
            last = records[-1]["id"]

    @checked("a page of invoices")
    def iter_documents(
        self, kind: DocumentKind, cursor: str | None, *, lag_seconds: float = 0.0
    ) -> Iterator[Page[Document]]:
        try:
            state = Cursor.decode(cursor)
        except ValueError as exc:
            raise DataError(str(exc), field="cursor") from None
        base = self._invoice_domain(kind)
        lag = dt.timedelta(seconds=lag_seconds)
        while True:
            records = self._rpc.model(
                "account.invoice", "search_read", base + state.domain(lag), 0, self.page_size + 1, mapping.ORDER,
                mapping.INVOICE_FIELDS,
            )
            finished = len(records) <= self.page_size
            records = records[: self.page_size]
            if not records:
                return
            documents = self._documents(records)
            stamps = [document.updated_at.replace(tzinfo=None) for document in documents if document.updated_at]
            state = state.advanced(records, finished=finished, stamps=stamps)
            yield Page(items=documents, next_cursor=state.encode())
            if finished:
                return

    @checked("the list of invoice ids")
    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        last = 0
        while True:
            ids = self._rpc.model(
                "account.invoice", "search", self._invoice_domain(kind) + [("id", ">", last)], 0, ID_BATCH,
                [["id", "ASC"]],
            )
            yield from (str(i) for i in ids)
            if len(ids) < ID_BATCH:
                return
            last = ids[-1]

    @checked("an invoice")
    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        record = self._invoice(kind, platform_id, mapping.INVOICE_FIELDS)
        return self._documents([record])[0]

    # -- push -------------------------------------------------------------------------------
    def push_counterpart(
        self, counterpart: OutgoingCounterpart, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        (outcome,) = self.push_counterparts([PushRequest(counterpart, key, platform_id, may_exist=may_exist)])
        return _result_or_raise(outcome)

    def push_document(
        self, document: OutgoingDocument, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        (outcome,) = self.push_documents([PushRequest(document, key, platform_id, may_exist=may_exist)])
        return _result_or_raise(outcome)

    @checked("a push of parties")
    def push_counterparts(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        """Parties: updated by id, found by their booksync identifier, adopted by exact name, or created —
        with one search and one create for the whole batch."""
        outcomes: dict[str, PushOutcome | int] = {}
        updates = [r for r in requests if r.platform_id is not None]
        existing: set[int] = set()
        if updates:
            wanted = [_int_id(r.platform_id or "", "platform_id") for r in updates]
            existing = set(self._rpc.model("party.party", "search", [("id", "in", wanted)], 0, None, None))
        writes: list[Any] = []
        for request in updates:
            party_id = int(request.platform_id or 0)
            if party_id not in existing:
                outcomes[request.key] = PushOutcome(request.key, error=NotFoundError(
                    f"Tryton has no party {request.platform_id}", details={"platform_id": request.platform_id}))
            else:
                writes += [[party_id], {"name": request.item.name}]
                outcomes[request.key] = party_id
        if writes:
            self._rpc.model("party.party", "write", *writes)
        creates = [r for r in requests if r.platform_id is None]
        if creates:
            markers = [mapping.KEY_PREFIX + r.key for r in creates]
            candidates = self._rpc.model(
                "party.party", "search_read",
                ["OR", ("identifiers.code", "in", markers), ("name", "in", sorted({r.item.name for r in creates}))],
                0, None, [["id", "ASC"]], ["id", "name", "identifiers.code"],
            )
            new: list[tuple[PushRequest[OutgoingCounterpart], dict[str, Any]]] = []
            adopted: list[Any] = []
            taken: set[int] = set()
            for request in creates:
                marker = mapping.KEY_PREFIX + request.key
                ours = [p for p in candidates if marker in _codes(p)]
                namesakes = [
                    p for p in candidates if p["name"] == request.item.name and p["id"] not in taken
                    and not any(code.startswith(mapping.KEY_PREFIX) for code in _codes(p))
                ]
                if ours:
                    outcomes[request.key] = ours[0]["id"]
                elif len(namesakes) == 1:
                    party_id = namesakes[0]["id"]
                    taken.add(party_id)
                    adopted += [[party_id], {"identifiers": [["create", [{"type": None, "code": marker}]]]}]
                    outcomes[request.key] = party_id
                    log.info("tryton.counterpart_adopted", party=party_id)
                else:
                    new.append((request, _party_values(request.item, marker)))
            if adopted:
                self._rpc.model("party.party", "write", *adopted)
            if new:
                created = self._rpc.model("party.party", "create", [values for _, values in new])
                for (request, _), party_id in zip(new, created, strict=True):
                    outcomes[request.key] = PushOutcome(request.key, result=PushResult(str(party_id), None, created=True))
                log.info("tryton.counterparts_created", count=len(created))
        for outcome in self._with_changed_at("party.party", requests, outcomes):
            if outcome.result is not None and outcome.result.platform_updated_at is not None:
                self._parties_seen.add(int(outcome.result.platform_id))  # it was there to read back
            yield outcome

    @checked("a push of invoices")
    def push_documents(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        """Invoices: looked up where they may exist, updated while draft, the rest created in one call.

        A draft found under its key is brought up to date rather than returned as it was: the document
        may have changed between a push whose answer was lost and its retry. One that stops being a draft
        before the update (the lost attempt's own post finishing meanwhile: Tryton kept working on a call
        the client had given up) is taken as it is, as one found posted would have been.
        """
        outcomes: dict[str, PushOutcome] = {}
        prepared: dict[str, tuple[PushRequest[OutgoingDocument], dict[str, Any]]] = {}
        for request in requests:
            try:
                prepared[request.key] = (request, self._invoice_values(request.item))
            except DataError as exc:
                outcomes[request.key] = PushOutcome(request.key, error=exc)
        missing = self._missing_parties([values["party"] for _, values in prepared.values()])
        for key, (request, values) in list(prepared.items()):
            if values["party"] in missing:
                del prepared[key]
                outcomes[key] = PushOutcome(key, error=DataError(
                    f"counterpart {request.item.counterpart_platform_id} does not exist in the accounting system",
                    field="counterpart_platform_id", value=request.item.counterpart_platform_id))
        lookups = [request for request, _ in prepared.values() if request.platform_id is None and request.may_exist]
        found = self._find_many([(request.item.kind, request.key) for request in lookups])
        updates: list[tuple[PushRequest[OutgoingDocument], dict[str, Any], str]] = []
        creates: list[tuple[PushRequest[OutgoingDocument], dict[str, Any]]] = []
        found_drafts: set[str] = set()
        for key, (request, values) in prepared.items():
            target = request.platform_id
            if target is None and key in found:
                invoice_id, state = found[key]
                if state != "draft":
                    outcomes[key] = PushOutcome(key, result=PushResult(str(invoice_id), None, created=False))
                    continue
                target = str(invoice_id)
                found_drafts.add(key)
            if target is not None:
                updates.append((request, values, target))
            else:
                creates.append((request, values))
        written: dict[str, tuple[int, bool]] = {}
        for request, values, target in updates:
            try:
                written[request.key] = (self._update(request.item.kind, target, values, request.key), False)
            except (DataError, NotFoundError) as exc:
                if request.key in found_drafts and self._not_draft(request.item.kind, target):
                    outcomes[request.key] = PushOutcome(request.key, result=PushResult(target, None, created=False))
                else:
                    outcomes[request.key] = PushOutcome(request.key, error=exc)
        written.update(self._create_invoices(creates, outcomes))
        if self.post_documents:
            self._post_many(written, outcomes)
        results = self._read_results(written)
        for key, (invoice_id, created) in written.items():
            if key in outcomes:  # created, but posting it failed
                outcomes[key] = PushOutcome(key, result=results.get(invoice_id), error=outcomes[key].error)
            else:
                outcomes[key] = PushOutcome(key, result=results.get(invoice_id) or PushResult(str(invoice_id), None, created))
        for request in requests:
            outcome = outcomes[request.key]
            if outcome.result is not None and request.key in written:
                outcome = PushOutcome(request.key, result=PushResult(
                    outcome.result.platform_id, outcome.result.platform_updated_at, written[request.key][1],
                    outcome.result.totals), error=outcome.error)
            yield outcome

    @checked("a search for a pushed invoice")
    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        found = self._find(kind, key)
        if found is None:
            return None
        return PushResult(str(found[0]), found[2], created=False)

    @checked("a cancellation")
    def void_document(self, kind: DocumentKind, platform_id: str) -> None:
        record = self._invoice(kind, platform_id, ["id", "state", "number"])
        state = record["state"]
        if state == "cancelled":
            return
        if state == "paid":
            raise DataError(
                f"invoice {record.get('number') or platform_id} is paid in Tryton and cannot be voided",
                field="status", value=state,
            )
        try:
            self._rpc.model("account.invoice", "cancel", [record["id"]])
        except TrytonUserWarning:
            raise
        except DataError as exc:
            raise DataError(f"Tryton cannot void this invoice: {exc.message}", field="status", value=state) from None

    # -- products and payments (providers.tryton.products, providers.tryton.payments) ------------
    def push_product(
        self, product: OutgoingProduct, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        (outcome,) = self.push_products([PushRequest(product, key, platform_id, may_exist=may_exist)])
        return _result_or_raise(outcome)

    @checked("a push of products")
    def push_products(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        yield from self.products.push(requests)

    @checked("a payment")
    def push_payment(
        self, payment: OutgoingPayment, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        """One pay wizard per payment (Tryton has no batch for it); ``platform_id`` is never needed: a payment
        once recorded is not changed."""
        return self.payments.push(payment, key, may_exist=may_exist or platform_id is not None)

    @checked("a payment's deletion")
    def delete_payment(self, kind: DocumentKind, platform_id: str) -> None:
        self.payments.delete(kind, platform_id)

    # -- batch steps ------------------------------------------------------------------------
    def _missing_parties(self, parties: Iterable[int]) -> set[int]:
        wanted = sorted(set(parties) - self._parties_seen)
        if not wanted:
            return set()
        existing = set(self._rpc.model("party.party", "search", [("id", "in", wanted)], 0, None, None))
        return set(wanted) - existing

    def _create_invoices(
        self, creates: list[tuple[PushRequest[OutgoingDocument], dict[str, Any]]], outcomes: dict[str, PushOutcome]
    ) -> dict[str, tuple[int, bool]]:
        """One ``create`` for the batch; if Tryton refuses it, one per invoice to find the one at fault."""
        if not creates:
            return {}
        records = []
        for request, values in creates:
            defaults = self._party_defaults(values["type"], values["party"])
            records.append({**defaults, **values, "comment": mapping.key_marker(request.key)})
        try:
            ids = self._rpc.model("account.invoice", "create", records)
        except DataError:
            if len(records) == 1:
                raise
            ids = None
        if ids is not None:
            log.info("tryton.invoices_created", count=len(ids))
            return {request.key: (int(invoice_id), True) for (request, _), invoice_id in zip(creates, ids, strict=True)}
        created: dict[str, tuple[int, bool]] = {}
        for (request, _), record in zip(creates, records, strict=True):
            try:
                (invoice_id,) = self._rpc.model("account.invoice", "create", [record])
            except DataError as exc:
                outcomes[request.key] = PushOutcome(request.key, error=exc)
            else:
                created[request.key] = (int(invoice_id), True)
        return created

    def _post_many(self, written: dict[str, tuple[int, bool]], outcomes: dict[str, PushOutcome]) -> None:
        ids = [invoice_id for invoice_id, _ in written.values()]
        if not ids:
            return
        try:
            self._rpc.model("account.invoice", "post", ids)
            return
        except DataError:
            pass  # a warning or an error on one of them: post one at a time
        for key, (invoice_id, _) in written.items():
            try:
                self._post(invoice_id)
            except DataError as exc:
                outcomes[key] = PushOutcome(key, error=DataError(
                    f"created as a draft, but Tryton refused to post it: {exc.message}", field="status",
                    details=exc.details))

    def _read_results(self, written: dict[str, tuple[int, bool]]) -> dict[int, PushResult]:
        """What Tryton holds now for the written invoices: change dates, computed totals and each line's amount
        (in the invoice's line order: sequence, unnumbered first, then id), one call."""
        ids = sorted({invoice_id for invoice_id, _ in written.values()})
        if not ids:
            return {}
        invoices = self._rpc.model(
            "account.invoice", "read", ids,
            ["id", "write_date", "create_date", "untaxed_amount", "tax_amount", "total_amount", "currency.code",
             "currency.digits", "lines.type", "lines.sequence", "lines.amount"],
        )
        amounts: dict[int, list[Any]] = defaultdict(list)
        for invoice in invoices:
            lines = sorted((line for line in invoice.get("lines.") or () if line.get("type") == "line"),
                           key=lambda line: (line.get("sequence") is not None, line.get("sequence") or 0, line["id"]))
            amounts[invoice["id"]] = [line["amount"] for line in lines]
        results = {}
        for invoice in invoices:
            currency = invoice.get("currency.") or {}
            code, digits = currency.get("code") or "", int(currency.get("digits") or 2)

            def minor(value: Any) -> int:
                return mapping.to_minor(value, code, digits) or 0

            results[invoice["id"]] = PushResult(
                str(invoice["id"]), mapping.as_utc(mapping.changed_at(invoice)), created=False,
                totals=DocumentTotals(
                    subtotal=minor(invoice.get("untaxed_amount")),
                    tax_amount=minor(invoice.get("tax_amount")),
                    total_amount=minor(invoice.get("total_amount")),
                    line_totals=tuple(minor(amount) for amount in amounts[invoice["id"]]),
                ),
            )
        return results

    def _with_changed_at(
        self, model: str, requests: Sequence[PushRequest[Any]], outcomes: dict[str, PushOutcome | int]
    ) -> Iterator[PushOutcome]:
        ids = sorted({o if isinstance(o, int) else int(o.result.platform_id) for o in outcomes.values()
                      if isinstance(o, int) or o.result is not None})
        stamps = {}
        if ids:
            for record in self._rpc.model(model, "read", ids, ["write_date", "create_date"]):
                stamps[record["id"]] = mapping.as_utc(mapping.changed_at(record))
        for request in requests:
            outcome = outcomes[request.key]
            if isinstance(outcome, int):
                yield PushOutcome(request.key, result=PushResult(str(outcome), stamps.get(outcome), created=False))
            elif outcome.result is not None:
                result = outcome.result
                yield PushOutcome(request.key, result=PushResult(
                    result.platform_id, stamps.get(int(result.platform_id)), result.created))
            else:
                yield outcome

    # -- helpers ----------------------------------------------------------------------------
    def _invoice_domain(self, kind: DocumentKind) -> list[Any]:
        return [("type", "=", INVOICE_TYPE[kind]), ("company", "=", self._rpc.company)]

    def _invoice(self, kind: DocumentKind, platform_id: str, fields: list[str]) -> dict[str, Any]:
        try:
            invoice_id = int(platform_id)
        except (TypeError, ValueError):
            raise NotFoundError(f"Tryton has no {kind.value} {platform_id!r}") from None
        records = self._rpc.model(
            "account.invoice", "search_read", self._invoice_domain(kind) + [("id", "=", invoice_id)], 0, 1, None, fields
        )
        if not records:
            raise NotFoundError(f"Tryton has no {kind.value} {platform_id}", details={"platform_id": platform_id})
        return records[0]

    def _documents(self, records: list[dict[str, Any]]) -> list[Document]:
        lines = self._rpc.model(
            "account.invoice.line", "search_read", [("invoice", "in", [r["id"] for r in records])], 0, None,
            [["invoice", "ASC"], ["sequence", "ASC NULLS FIRST"], ["id", "ASC"]], mapping.LINE_FIELDS,
        )
        taxes = self._tax_map()
        if any(t not in taxes for line in lines for t in line.get("taxes") or ()):
            taxes = self._tax_map(refresh=True)
        by_invoice: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            by_invoice[line["invoice"]].append(line)
        rates = self._rates_for(records)
        return [
            mapping.document(record, by_invoice[record["id"]], taxes, rates(record)) for record in records
        ]

    def _company_currency(self) -> int:
        if self._company_currency_id is None:
            (company,) = self._rpc.model("company.company", "read", [self._rpc.company], ["currency", "currency.code"])
            self._company_currency_id = int(company["currency"])
            self._company_currency_code = str((company.get("currency.") or {}).get("code") or "")
        return self._company_currency_id

    def company_currency_code(self) -> str:
        if self._company_currency_code is None:
            self._company_currency_id = None
            self._company_currency()
        return self._company_currency_code or ""

    def _rates_for(self, records: list[dict[str, Any]]) -> Callable[[Mapping[str, Any]], Decimal | None]:
        """The rate Tryton applies to each invoice (company currency per unit of the invoice's, at its
        currency date), from one read of the currencies' rate tables."""
        home = self._company_currency()
        foreign = sorted({r["currency"] for r in records if r.get("currency") not in (None, home)})
        table: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
        if foreign:
            for row in self._rpc.model(
                "currency.currency.rate", "search_read", [("currency", "in", [home, *foreign])], 0, None,
                [["date", "DESC"]], ["currency", "date", "rate"],
            ):
                table[row["currency"]].append((row["date"], row["rate"]))

        def at(currency: int, day: dt.date) -> Decimal | None:
            return next((rate for date, rate in table[currency] if date <= day and rate), None)

        def rate(record: Mapping[str, Any]) -> Decimal | None:
            currency = record.get("currency")
            if currency is None or currency == home:
                return Decimal(1)
            day = record.get("currency_date") or record.get("invoice_date") or dt.date.today()
            home_rate, own_rate = at(home, day), at(currency, day)
            if home_rate is None or own_rate is None:
                return None
            return (home_rate / own_rate).quantize(Decimal("0.000000000001")).normalize()

        return rate

    def _tax_map(self, *, refresh: bool = False) -> dict[int, Tax]:
        if self._taxes is None or refresh:
            records = self._rpc.model(
                "account.tax", "search_read", [("company", "=", self._rpc.company)], 0, None, [["id", "ASC"]],
                mapping.TAX_FIELDS, context=INACTIVE_TOO,
            )
            self._taxes = {r["id"]: Tax.from_record(r) for r in records}
        return self._taxes

    def _currency(self, code: str) -> int:
        """The Tryton currency of ``code``, refused if Tryton keeps it with other decimals than ISO 4217."""
        if self._currencies is None or code not in self._currencies:
            records = self._rpc.model("currency.currency", "search_read", [], 0, None, None, ["code", "digits"])
            self._currencies = {
                r["code"]: (r["id"], int(r["digits"]) if r.get("digits") is not None else 2) for r in records
            }
        if code not in self._currencies:
            raise DataError(f"currency {code} does not exist in the accounting system", field="currency", value=code)
        currency_id, digits = self._currencies[code]
        expected = money.exponent(code)
        if digits != expected:
            raise DataError(
                f"Tryton keeps {code} with {digits} decimals where ISO 4217 gives it {expected}; booksync does not "
                f"scale amounts to fit: set {code}'s digits to {expected} in Tryton", field="currency", value=code,
            )
        return currency_id

    def _default_account(self, invoice_type: str) -> int:
        if invoice_type not in self._default_accounts:
            field = "default_category_account_expense" if invoice_type == "in" else "default_category_account_revenue"
            (config,) = self._rpc.model("account.configuration", "read", [1], [field])
            account = config.get(field)
            if account is None:
                flag = "type.expense" if invoice_type == "in" else "type.revenue"
                found = self._rpc.model(
                    "account.account", "search",
                    [(flag, "=", True), ("closed", "!=", True), ("company", "=", self._rpc.company)],
                    0, 1, [["code", "ASC"]],
                )
                if not found:
                    kind = "expense" if invoice_type == "in" else "revenue"
                    raise DataError(f"the accounting system has no {kind} account for invoice lines", field="lines")
                account = found[0]
            self._default_accounts[invoice_type] = int(account)
        return self._default_accounts[invoice_type]

    def _tax_for(self, line: LineItem, index: int, invoice_type: str) -> list[int]:
        return self.taxes_for(line.tax_rate_value, line.tax_rate_platform_id, invoice_type, f"lines[{index}].")

    def taxes_for(self, tax_rate_value: int | None, tax_rate_platform_id: str | None, invoice_type: str,
                  prefix: str = "") -> list[int]:
        """The Tryton taxes for a rate given by id or by value, usable on invoices of ``invoice_type``;
        ``prefix`` starts the field a DataError names (``lines[0].``)."""
        if tax_rate_platform_id is not None:
            tax_id = _int_id(tax_rate_platform_id, f"{prefix}tax_rate_platform_id")
            taxes = self._tax_map()
            if tax_id not in taxes:
                taxes = self._tax_map(refresh=True)
            tax = taxes.get(tax_id)
            if tax is None or not tax.usable_on(invoice_type):
                raise DataError(
                    f"tax rate {tax_rate_platform_id} does not exist in the accounting system"
                    + ("" if tax is None else f" or cannot be used on {_usage(invoice_type)}"),
                    field=f"{prefix}tax_rate_platform_id", value=tax_rate_platform_id,
                )
            return [tax_id]
        if tax_rate_value is None:
            return []
        for refresh in (False, True):
            taxes = self._tax_map(refresh=refresh)
            same_rate = [
                t for t in taxes.values()
                if t.parent is None and t.active and t.type in ("percentage", "none")
                and mapping.rate_of(t, taxes) == tax_rate_value
            ]
            usable = sorted(
                (t for t in same_rate if t.usable_on(invoice_type)),
                key=lambda t: (t.sequence is None, t.sequence or 0, t.id),
            )
            if usable:
                return [usable[0].id]
        if tax_rate_value == 0:
            return []
        rate = mapping.format_rate(tax_rate_value)
        raise DataError(
            f"tax rate {rate} does not exist in the accounting system"
            + (f" for {_usage(invoice_type)}" if same_rate else ""),
            field=f"{prefix}tax_rate_value", value=tax_rate_value,
        )

    def _invoice_values(self, document: OutgoingDocument) -> dict[str, Any]:
        """Everything the invoice needs, resolved and checked before anything is written."""
        invoice_type = INVOICE_TYPE[document.kind]
        party = _int_id(document.counterpart_platform_id, "counterpart_platform_id")
        currency = self._currency(document.currency)
        lines = []
        for index, line in enumerate(document.lines):
            taxes = self._tax_for(line, index, invoice_type)
            account = (
                _int_id(line.ledger_account_id, f"lines[{index}].ledger_account_id")
                if line.ledger_account_id is not None
                else self._default_account(invoice_type)
            )
            values: dict[str, Any] = {
                "type": "line",
                "account": account,
                "currency": currency,
                "description": line.description,
                "quantity": float(line.quantity),
                "unit_price": money.to_decimal(line.unit_price, document.currency),
            }
            if taxes:
                values["taxes"] = [["add", taxes]]
            if line.product_platform_id is not None:
                product = _int_id(line.product_platform_id, f"lines[{index}].product_platform_id")
                values["product"] = product
                values["unit"] = self.products.unit_of(product, f"lines[{index}].product_platform_id")
            lines.append(values)
        return {
            "type": invoice_type,
            "party": party,
            "company": self._rpc.company,
            "currency": currency,
            "invoice_date": document.issue_date,
            "reference": document.document_number,
            "description": document.memo,
            "lines": [["create", lines]],
        }

    def _not_draft(self, kind: DocumentKind, platform_id: str) -> bool:
        """The invoice exists and is no longer a draft (posted, paid or cancelled)."""
        try:
            return self._invoice(kind, platform_id, ["id", "state"])["state"] != "draft"
        except NotFoundError:
            return False

    def _update(self, kind: DocumentKind, platform_id: str, values: dict[str, Any], key: str) -> int:
        record = self._invoice(kind, platform_id, ["id", "state", "number", "party", "comment", "lines"])
        invoice_id = int(record["id"])
        if record["state"] != "draft":
            name = record.get("number") or platform_id
            raise DataError(
                f"invoice {name} is {record['state']} in Tryton and cannot be changed",
                field="status", value=record["state"],
            )
        changes = dict(values)
        if record["party"] != values["party"]:
            changes = {**self._party_defaults(values["type"], values["party"]), **changes}
        changes.pop("type", None)
        changes.pop("company", None)
        marker = mapping.key_marker(key)
        comment = record.get("comment") or ""
        if marker not in comment:
            changes["comment"] = f"{comment}\n{marker}".strip()
        if record.get("lines"):
            changes["lines"] = [["delete", record["lines"]], *values["lines"]]
        self._rpc.model("account.invoice", "write", [invoice_id], changes)
        log.info("tryton.invoice_updated", invoice=invoice_id)
        return invoice_id

    def _party_defaults(self, invoice_type: str, party: int) -> dict[str, Any]:
        """The party-dependent invoice fields, from Tryton's own on_change (as its client does).

        A party without any address (created over RPC, where Tryton adds none) gets an empty one:
        an invoice cannot exist without an invoice address.
        """
        cached = self._party_defaults_cache.get((invoice_type, party))
        if cached is not None:
            return cached
        changes = self._rpc.model(
            "account.invoice", "on_change",
            {"type": invoice_type, "company": self._rpc.company, "party": party}, ["type", "party"],
        )
        defaults = {k: v for k, v in changes.items() if not k.endswith(".")}
        if not defaults.get("invoice_address"):
            (defaults["invoice_address"],) = self._rpc.model("party.address", "create", [{"party": party}])
        self._party_defaults_cache[(invoice_type, party)] = defaults
        return defaults

    def _find(self, kind: DocumentKind, key: str) -> tuple[int, str, dt.datetime | None] | None:
        marker = mapping.key_marker(key)
        records = self._rpc.model(
            "account.invoice", "search_read", self._invoice_domain(kind) + [("comment", "like", f"%{marker}%")],
            0, None, [["id", "ASC"]], ["id", "state", "comment", "write_date", "create_date"],
        )
        for record in records:
            if marker in (record.get("comment") or ""):
                return record["id"], record["state"], mapping.as_utc(mapping.changed_at(record))
        return None

    def _find_many(self, wanted: Sequence[tuple[DocumentKind, str]]) -> dict[str, tuple[int, str]]:
        """The invoices earlier pushes created under these keys (one search for all of them)."""
        if not wanted:
            return {}
        markers = {mapping.key_marker(key): key for _, key in wanted}
        clauses: list[Any] = ["OR", *(("comment", "like", f"%{marker}%") for marker in markers)]
        records = self._rpc.model(
            "account.invoice", "search_read", [("company", "=", self._rpc.company), clauses],
            0, None, [["id", "ASC"]], ["id", "state", "comment", "type"],
        )
        types = {key: INVOICE_TYPE[kind] for kind, key in wanted}
        found: dict[str, tuple[int, str]] = {}
        for record in records:
            comment = record.get("comment") or ""
            for marker, key in markers.items():
                if marker in comment and record["type"] == types[key] and key not in found:
                    found[key] = (int(record["id"]), record["state"])
        return found

    def _post(self, invoice_id: int) -> None:
        acknowledged: set[str] = set()
        while True:
            try:
                self._rpc.model("account.invoice", "post", [invoice_id])
                return
            except TrytonUserWarning as warning:
                if not warning.name.endswith(".invoice_similar") or warning.name in acknowledged:
                    raise
                self._rpc.model(
                    "res.user.warning", "create", [{"user": self._rpc.user_id, "name": warning.name, "always": False}]
                )
                acknowledged.add(warning.name)
                log.info("tryton.similar_invoice_acknowledged", invoice=invoice_id)


def _result_or_raise(outcome: PushOutcome) -> PushResult:
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    return outcome.result


def _party_values(counterpart: OutgoingCounterpart, marker: str) -> dict[str, Any]:
    identifiers = [{"type": None, "code": marker}]
    if counterpart.tax_id:
        identifiers.append({"type": None, "code": counterpart.tax_id})
    values: dict[str, Any] = {
        "name": counterpart.name,
        "identifiers": [["create", identifiers]],
        "addresses": [["create", [{}]]],
    }
    if counterpart.email:
        values["contact_mechanisms"] = [["create", [{"type": "email", "value": counterpart.email}]]]
    return values


def _int_id(value: str, field: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DataError(f"{field} must be a Tryton id (an integer), not {value!r}", field=field, value=value) from None
    if number <= 0:
        raise DataError(f"{field} must be a Tryton id (a positive integer)", field=field, value=value)
    return number


def _codes(party: Mapping[str, Any]) -> list[str]:
    return [i.get("code") or "" for i in party.get("identifiers.") or ()]


def _usage(invoice_type: str) -> str:
    return "purchases" if invoice_type == "in" else "sales"
