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
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from config.secrets import Credentials
from providers.base import AccountingProvider, CredentialsSaver
from providers.errors import DataError, NotFoundError
from providers.http import HttpSettings, RateLimiter, build_client
from providers.registry import register
from providers.tryton import mapping
from providers.tryton.mapping import INVOICE_TYPE, Cursor, Tax
from providers.tryton.rpc import TrytonRPC, TrytonUserWarning
from providers.types import (
    ConnectionCheck,
    Document,
    DocumentKind,
    LedgerAccount,
    LineItem,
    OutgoingCounterpart,
    OutgoingDocument,
    Page,
    PushResult,
    TaxRate,
)

log = structlog.get_logger(__name__)

DEFAULT_PAGE_SIZE = 100
ID_BATCH = 1000
INACTIVE_TOO = {"active_test": False}


@register("tryton")
class TrytonProvider(AccountingProvider):
    supports_update = True
    supports_revoke = False
    uses_oauth = False

    def __init__(
        self,
        settings: Mapping[str, Any],
        credentials: Credentials,
        *,
        save_credentials: CredentialsSaver | None = None,
        transport: httpx.BaseTransport | None = None,
        http_settings: HttpSettings | None = None,
        rate_limiter: RateLimiter | None = None,
        page_size: int | None = None,
    ) -> None:
        """``transport`` and ``page_size`` exist for tests (fault injection, paging with 2)."""
        super().__init__(settings, credentials, save_credentials=save_credentials)
        self.validate_settings(settings, credentials)
        self.page_size = int(page_size or settings.get("page_size") or DEFAULT_PAGE_SIZE)
        self.post_documents = bool(settings.get("post_documents", False))
        self._client = build_client(
            provider="tryton",
            settings=http_settings,
            transport=transport,
            rate_limiter=rate_limiter,
            rate_limit_key=f"tryton:{settings['url']}/{settings['database']}",
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

    # -- connection -------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        url = settings.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise DataError("url must be the Tryton server's http(s) address, e.g. http://127.0.0.1:8000", field="url")
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

    def check(self) -> ConnectionCheck:
        company = self._rpc.company
        (record,) = self._rpc.model("company.company", "read", [company], ["rec_name", "currency.code"])
        return ConnectionCheck(
            organization_name=record["rec_name"],
            details={
                "company_id": str(company),
                "currency": (record.get("currency.") or {}).get("code", ""),
                "user": self._rpc.username,
            },
        )

    def close(self) -> None:
        try:
            self._rpc.close()
        finally:
            self._client.close()

    # -- pull -------------------------------------------------------------------------------
    def list_tax_rates(self) -> Iterator[TaxRate]:
        taxes = self._tax_map(refresh=True)
        for tax in sorted(taxes.values(), key=lambda t: (t.sequence is None, t.sequence or 0, t.id)):
            if tax.parent is None and tax.type in ("percentage", "none"):
                yield mapping.tax_rate(tax, taxes)

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

    def iter_documents(self, kind: DocumentKind, cursor: str | None) -> Iterator[Page[Document]]:
        try:
            state = Cursor.decode(cursor)
        except ValueError as exc:
            raise DataError(str(exc), field="cursor") from None
        base = self._invoice_domain(kind)
        while True:
            records = self._rpc.model(
                "account.invoice", "search_read", base + state.domain(), 0, self.page_size + 1, mapping.ORDER,
                mapping.INVOICE_FIELDS,
            )
            finished = len(records) <= self.page_size
            records = records[: self.page_size]
            if not records:
                return
            documents = self._documents(records)
            state = state.advanced(records, finished=finished)
            yield Page(items=documents, next_cursor=state.encode())
            if finished:
                return

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

    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        record = self._invoice(kind, platform_id, mapping.INVOICE_FIELDS)
        return self._documents([record])[0]

    # -- push -------------------------------------------------------------------------------
    def push_counterpart(self, counterpart: OutgoingCounterpart, key: str, platform_id: str | None) -> PushResult:
        marker = mapping.KEY_PREFIX + key
        if platform_id is not None:
            party_id = _int_id(platform_id, "platform_id")
            if not self._rpc.model("party.party", "search", [("id", "=", party_id)], 0, 1, None):
                raise NotFoundError(f"Tryton has no party {platform_id}", details={"platform_id": platform_id})
            self._rpc.model("party.party", "write", [party_id], {"name": counterpart.name})
            return PushResult(str(party_id), self._changed_at("party.party", party_id), created=False)
        candidates = self._rpc.model(
            "party.party", "search_read",
            ["OR", ("identifiers.code", "=", marker), ("name", "=", counterpart.name)],
            0, None, [["id", "ASC"]], ["id", "name", "identifiers.code", "write_date", "create_date"],
        )
        ours = [p for p in candidates if marker in _codes(p)]
        if ours:
            party = ours[0]
            return PushResult(str(party["id"]), mapping.as_utc(mapping.changed_at(party)), created=False)
        namesakes = [
            p for p in candidates
            if p["name"] == counterpart.name and not any(c.startswith(mapping.KEY_PREFIX) for c in _codes(p))
        ]
        if len(namesakes) == 1:
            party_id = namesakes[0]["id"]
            self._rpc.model(
                "party.party", "write", [party_id], {"identifiers": [["create", [{"type": None, "code": marker}]]]}
            )
            log.info("tryton.counterpart_adopted", party=party_id)
            return PushResult(str(party_id), self._changed_at("party.party", party_id), created=False)
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
        (party_id,) = self._rpc.model("party.party", "create", [values])
        log.info("tryton.counterpart_created", party=party_id)
        return PushResult(str(party_id), self._changed_at("party.party", party_id), created=True)

    def push_document(self, document: OutgoingDocument, key: str, platform_id: str | None) -> PushResult:
        """A draft found under ``key`` is brought up to date rather than returned as it was: the
        document may have changed between a push whose answer was lost and its retry."""
        invoice_type = INVOICE_TYPE[document.kind]
        values = self._invoice_values(document, invoice_type)
        if platform_id is not None:
            return self._update(document.kind, platform_id, values, key)
        existing = self._find(document.kind, key)
        if existing is not None:
            invoice_id, state, changed = existing
            if state == "draft":
                return self._update(document.kind, str(invoice_id), values, key)
            return PushResult(str(invoice_id), changed, created=False)
        record = {**self._party_defaults(invoice_type, values["party"]), **values, "comment": mapping.key_marker(key)}
        (invoice_id,) = self._rpc.model("account.invoice", "create", [record])
        log.info("tryton.invoice_created", invoice=invoice_id, type=invoice_type)
        if self.post_documents:
            self._post(invoice_id)
        return PushResult(str(invoice_id), self._changed_at("account.invoice", invoice_id), created=True)

    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        found = self._find(kind, key)
        if found is None:
            return None
        return PushResult(str(found[0]), found[2], created=False)

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
        return [mapping.document(record, by_invoice[record["id"]], taxes) for record in records]

    def _tax_map(self, *, refresh: bool = False) -> dict[int, Tax]:
        if self._taxes is None or refresh:
            records = self._rpc.model(
                "account.tax", "search_read", [("company", "=", self._rpc.company)], 0, None, [["id", "ASC"]],
                mapping.TAX_FIELDS, context=INACTIVE_TOO,
            )
            self._taxes = {r["id"]: Tax.from_record(r) for r in records}
        return self._taxes

    def _currency(self, code: str) -> tuple[int, int]:
        if self._currencies is None or code not in self._currencies:
            records = self._rpc.model("currency.currency", "search_read", [], 0, None, None, ["code", "digits"])
            self._currencies = {
                r["code"]: (r["id"], int(r["digits"]) if r.get("digits") is not None else 2) for r in records
            }
        if code not in self._currencies:
            raise DataError(f"currency {code} does not exist in the accounting system", field="currency", value=code)
        return self._currencies[code]

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
        if line.tax_rate_platform_id is not None:
            tax_id = _int_id(line.tax_rate_platform_id, f"lines[{index}].tax_rate_platform_id")
            taxes = self._tax_map()
            if tax_id not in taxes:
                taxes = self._tax_map(refresh=True)
            tax = taxes.get(tax_id)
            if tax is None or not tax.usable_on(invoice_type):
                raise DataError(
                    f"tax rate {line.tax_rate_platform_id} does not exist in the accounting system"
                    + ("" if tax is None else f" or cannot be used on {_usage(invoice_type)}"),
                    field=f"lines[{index}].tax_rate_platform_id", value=line.tax_rate_platform_id,
                )
            return [tax_id]
        if line.tax_rate_value is None:
            return []
        for refresh in (False, True):
            taxes = self._tax_map(refresh=refresh)
            same_rate = [
                t for t in taxes.values()
                if t.parent is None and t.active and t.type in ("percentage", "none")
                and mapping.rate_of(t, taxes) == line.tax_rate_value
            ]
            usable = sorted(
                (t for t in same_rate if t.usable_on(invoice_type)),
                key=lambda t: (t.sequence is None, t.sequence or 0, t.id),
            )
            if usable:
                return [usable[0].id]
        if line.tax_rate_value == 0:
            return []
        rate = mapping.format_rate(line.tax_rate_value)
        raise DataError(
            f"tax rate {rate} does not exist in the accounting system"
            + (f" for {_usage(invoice_type)}" if same_rate else ""),
            field=f"lines[{index}].tax_rate_value", value=line.tax_rate_value,
        )

    def _invoice_values(self, document: OutgoingDocument, invoice_type: str) -> dict[str, Any]:
        """Everything the invoice needs, resolved and checked before anything is written."""
        party = _int_id(document.counterpart_platform_id, "counterpart_platform_id")
        currency, digits = self._currency(document.currency)
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
                "description": line.description,
                "quantity": float(line.quantity),
                "unit_price": mapping.from_minor(line.unit_price, digits),
            }
            if taxes:
                values["taxes"] = [["add", taxes]]
            lines.append(values)
        if not self._rpc.model("party.party", "search", [("id", "=", party)], 0, 1, None):
            raise DataError(
                f"counterpart {document.counterpart_platform_id} does not exist in the accounting system",
                field="counterpart_platform_id", value=document.counterpart_platform_id,
            )
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

    def _update(self, kind: DocumentKind, platform_id: str, values: dict[str, Any], key: str) -> PushResult:
        record = self._invoice(kind, platform_id, ["id", "state", "number", "party", "comment", "lines"])
        invoice_id = record["id"]
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
        if self.post_documents:
            self._post(invoice_id)
        return PushResult(str(invoice_id), self._changed_at("account.invoice", invoice_id), created=False)

    def _party_defaults(self, invoice_type: str, party: int) -> dict[str, Any]:
        """The party-dependent invoice fields, from Tryton's own on_change (as its client does).

        A party without any address (created over RPC, where Tryton adds none) gets an empty one:
        an invoice cannot exist without an invoice address.
        """
        changes = self._rpc.model(
            "account.invoice", "on_change",
            {"type": invoice_type, "company": self._rpc.company, "party": party}, ["type", "party"],
        )
        defaults = {k: v for k, v in changes.items() if not k.endswith(".")}
        if not defaults.get("invoice_address"):
            (defaults["invoice_address"],) = self._rpc.model("party.address", "create", [{"party": party}])
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

    def _changed_at(self, model: str, record_id: int) -> dt.datetime | None:
        records = self._rpc.model(model, "read", [record_id], ["write_date", "create_date"])
        return mapping.as_utc(mapping.changed_at(records[0])) if records else None


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
