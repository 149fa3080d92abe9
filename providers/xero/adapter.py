"""The Xero adapter (Accounting API 2.0): ``ACCPAY`` invoices are payables, ``ACCREC`` receivables.

Where the idempotency keys live, and why (from Xero's API definition and docs):

- A pushed **invoice or bill** carries ``Url = <BOOKSYNC_PUBLIC_URL>/pushed/<key>``. ``Url`` is the field
  Xero keeps for exactly this ("URL link to a source document – shown as 'Go to [appName]' in the Xero
  app"): it exists on both ``ACCPAY`` and ``ACCREC``, only the API sets it, and nothing of Xero's own
  (numbering, duplicate checks, payment matching, reports) reads it. ``Reference`` would not do: the
  definition calls it "ACCREC only", and on a sale it is the customer's reference a person types.
  ``InvoiceNumber`` is the supplier's number on a bill and must stay searchable as such.
  ``find_pushed`` and ``may_exist`` lookups are one ``GET /Invoices?where=Url=="…" OR …`` per batch.
  The base must therefore stay the same for a deployment (it is the public URL booksync is reached at).
- A pushed **contact** carries ``ContactNumber = booksync:<key>``: the definition says ContactNumber "can
  be updated via the API only … used to identify contacts in external systems" (50 characters: longer
  keys are hashed). A contact found with exactly the pushed name and no ContactNumber is adopted (Xero
  refuses a second active contact of the same name anyway).
- A pushed **payment** ends its ``Reference`` with ``[booksync:<key>]`` and is found on its invoice's own list
  of payments (``providers.xero.payments``); a pushed **item**'s ``Code`` is made of its key
  (``providers.xero.products``).

Writes are batches (``max_batch`` 50, as Xero recommends per call) through ``POST /Invoices`` and
``POST /Contacts`` with ``summarizeErrors=false``: each element comes back with its own
``ValidationErrors``, so one invalid invoice is that invoice's ``DataError`` and the rest are written.
Every write carries ``Idempotency-Key`` = SHA-256 of the exact request (method, path, query, body):
retrying the same request is byte-identical and Xero answers it again without doing it twice. A
retried batch whose documents changed meanwhile cannot be identical, so requests marked ``may_exist``
are looked up by their key first and what an earlier attempt created is updated (a draft) or returned
(anything else) instead of created again.

Updates: booksync changes only what is still a draft in Xero (``DRAFT`` or ``SUBMITTED``). Xero lets an
``AUTHORISED`` invoice be edited, but it is in the ledger and may have been sent; a change there is a
``DataError`` ("is posted"), as for Tryton's posted invoices. ``post_documents`` (setting) creates
invoices ``AUTHORISED`` instead of ``DRAFT``.

Lines: quantity and unit amount exactly as given, ``LineAmountTypes=Exclusive``; Xero computes line
amounts, tax and totals, returned in ``PushResult.totals``. The line's account is its
``ledger_account_id`` (an AccountID, or an account code), else the setting ``expense_account_code`` /
``revenue_account_code``, else the lowest-coded active expense (bills) or revenue (invoices) account. The
tax is the line's ``tax_rate_platform_id`` (a TaxType), else the first active tax rate whose
``EffectiveRate`` equals ``tax_rate_value`` and that applies to expenses (bills) or revenue (invoices),
else a ``DataError`` before anything is sent; a line without a rate gets ``NONE`` (no tax), never the
account's default tax. A line selling a product (``product_platform_id``, an ``ItemID``) sends the item's
``ItemCode``, and posts to the item's account for its side when the line names none.

Modules: ``reference`` (tax rates, accounts, items, and the choices among them), ``writes`` (Idempotency-Key,
batched writes), ``payments``, ``products``; this one pulls and pushes documents and contacts.

Connection settings: ``tenant_id`` (set by the OAuth callback), ``post_documents`` (default false),
``page_size`` (1 to 1,000, default 1,000), ``expense_account_code``, ``revenue_account_code``.
Credentials: the OAuth token set (``providers.oauth.TokenSet.to_credentials``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
import structlog

from config.logging import register_secret
from config.secrets import Credentials
from config.settings import get_settings
from providers import money, oauth
from providers.base import AccountingProvider, CredentialStore
from providers.errors import DataError, NotFoundError, ProviderError, RetryableError
from providers.http import HttpSettings, RateLimiter, build_client
from providers.oauth import DEFAULT_REFRESH_MARGIN, LocalCredentialStore, OAuthApp, Tenant, TokenSet
from providers.registry import register
from providers.types import (
    ConnectionCheck,
    Document,
    DocumentKind,
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
from providers.xero import app as xero_app
from providers.xero import mapping, models, writes
from providers.xero.client import XeroClient
from providers.xero.payments import XeroPayments
from providers.xero.products import XeroProducts
from providers.xero.reference import XeroReference
from providers.ratelimit import rate_limiter as shared_rate_limiter
from providers.xero.limits import XERO_LIMITS, rate_limit_key
from providers.xero.mapping import INVOICE_TYPE, Cursor, ResolvedLine

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE = 1000
#: Every page is one of the tenant's 60 calls a minute, spent beside the pushes: the largest Xero serves.
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE
#: Xero: "we recommend you limit the number of invoices per request to 50".
MAX_BATCH = 50
#: ``where`` clauses per lookup call (keeps the URL well under Xero's limits).
LOOKUP_CHUNK = 25
TOKEN_FIELDS = frozenset({"access_token", "refresh_token", "expires_at", "refresh_expires_at", "token_type",
                          "scope", "extra"})
EXISTING_STATUSES = "DRAFT,SUBMITTED,AUTHORISED,PAID,VOIDED"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


def label(kind: DocumentKind) -> str:
    return "bill" if kind is DocumentKind.PAYABLE else "invoice"


@register("xero")
class XeroProvider(AccountingProvider):
    supports_update = True
    supports_revoke = True
    uses_oauth = True
    display_name = "Xero"
    max_batch = MAX_BATCH
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
        app: OAuthApp | None = None,
        api_url: str | None = None,
        source_url: str | None = None,
        refresh_margin: dt.timedelta = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        """``app``, ``api_url`` and ``source_url`` default to booksync's settings (tests point them at the
        local Xero); ``transport`` and ``page_size`` exist for tests."""
        super().__init__(settings, credentials, credential_store=credential_store)
        self.validate_settings(settings, {})
        tenant_id = settings.get("tenant_id")
        if not is_uuid(tenant_id):
            raise DataError("tenant_id must name the Xero organisation (finish the connection's consent first)",
                            field="tenant_id")
        configured = get_settings() if app is None or api_url is None or source_url is None else None
        self.tenant_id = str(tenant_id)
        self.app = app or xero_app.oauth_app(configured)
        self.page_size = int(page_size or settings.get("page_size") or DEFAULT_PAGE_SIZE)
        self.post_documents = bool(settings.get("post_documents", False))
        self.refresh_margin = refresh_margin
        self.books_id = f"xero:{self.tenant_id}"
        self._source_base = (source_url or (configured.public_url if configured else "")).rstrip("/")
        self._store: CredentialStore = credential_store or LocalCredentialStore(credentials)
        self._oauth_transport = transport
        key = rate_limit_key(self.tenant_id)
        if rate_limiter is None:
            rate_limiter = shared_rate_limiter(XERO_LIMITS)
        self._http = build_client(
            provider="xero", base_url=(api_url or (configured.xero_api_url if configured else "")).rstrip("/"),
            settings=http_settings, transport=transport, rate_limiter=rate_limiter, rate_limit_key=key,
        )
        self.client = XeroClient(self._http, tenant_id=self.tenant_id, access_token=self._access_token,
                                 renew=self._renew)
        self.reference = XeroReference(self.client, self.settings)
        self._payments = XeroPayments(self.client, self.reference, self._current, is_uuid)
        self._products = XeroProducts(self.client, self.reference, is_uuid, lambda: self._tokens().scope)

    @classmethod
    def rate_limit_budget(cls, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        tenant_id = settings.get("tenant_id")
        if not is_uuid(tenant_id):
            return None
        try:
            return shared_rate_limiter(XERO_LIMITS).budget(rate_limit_key(str(tenant_id)))
        except RetryableError:  # the limiter's store is unavailable: say nothing rather than fail
            return None

    # -- the connect flow (providers.oauth.OAuthPlatform) ----------------------------------------
    @classmethod
    def oauth_app(cls) -> OAuthApp:
        return xero_app.oauth_app()

    @classmethod
    def oauth_tenants(cls, token: TokenSet, callback: Mapping[str, str] | None = None) -> list[Tenant]:
        return [Tenant(c.tenantId, c.tenantName or c.tenantId) for c in xero_app.list_tenants(token)]

    @classmethod
    def oauth_settings(cls, tenant: Tenant) -> dict[str, Any]:
        return {"tenant_id": tenant.id}

    # -- connection -------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        """Creating a connection gives no credentials: Xero's consent does (``connection_url``)."""
        if credentials:
            raise DataError("a Xero connection gets its credentials from Xero's consent page; send none",
                            field="credentials")
        tenant = settings.get("tenant_id")
        if tenant is not None and not is_uuid(tenant):
            raise DataError("tenant_id must be a Xero tenant id (a UUID)", field="tenant_id")
        if not isinstance(settings.get("post_documents", False), bool):
            raise DataError("post_documents must be true or false", field="post_documents")
        page_size = settings.get("page_size")
        if page_size is not None and (isinstance(page_size, bool) or not isinstance(page_size, int)
                                      or not 1 <= page_size <= MAX_PAGE_SIZE):
            raise DataError("page_size must be an integer from 1 to 1000", field="page_size")
        for name in ("expense_account_code", "revenue_account_code"):
            value = settings.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DataError(f"{name} must be a Xero account code", field=name)

    def check(self) -> ConnectionCheck:
        answer = self.client.get("/Organisation", what="GET Organisation", model=models.Organisations)
        organisation = answer.Organisations[0]
        details = {
            "tenant_id": self.tenant_id,
            "legal_name": organisation.LegalName or organisation.Name,
            "base_currency": organisation.BaseCurrency or "",
            "country": organisation.CountryCode or "",
            "type": organisation.OrganisationType or "",
            **{name: str(value) for name, value in self.client.remaining.items()},
        }
        return ConnectionCheck(organization_name=organisation.Name, books_id=self.books_id,
                               details={k: v for k, v in details.items() if v})

    @property
    def limits_remaining(self) -> dict[str, int]:
        """What Xero said is left of this tenant's limits on its last answer."""
        return dict(self.client.remaining)

    def revoke(self) -> None:
        oauth.revoke(self.app, self._tokens(), transport=self._oauth_transport)

    def close(self) -> None:
        self._http.close()

    # -- tokens -------------------------------------------------------------------------------
    def _tokens(self) -> TokenSet:
        return TokenSet.from_credentials(self.credentials, platform=xero_app.NAME)

    def _access_token(self) -> str:
        token = self._tokens()
        if token.is_stale(margin=self.refresh_margin):
            token = self._refresh()
        return token.access_token

    def _renew(self) -> str:
        return self._refresh().access_token

    def _refresh(self) -> TokenSet:
        def renew(current: Credentials) -> Credentials:
            renewed = oauth.refresh(self.app, TokenSet.from_credentials(current, platform=xero_app.NAME),
                                    transport=self._oauth_transport)
            kept = {k: v for k, v in current.items() if k not in TOKEN_FIELDS}
            fresh = renewed.to_credentials(**kept)
            register_secret(*fresh.secret_values())
            return fresh

        self.credentials = self._store.refresh(self.credentials, renew)
        register_secret(*self.credentials.secret_values())
        return self._tokens()

    # -- reference data -------------------------------------------------------------------------
    def list_tax_rates(self) -> Iterator[TaxRate]:
        for rate in self.reference.tax_rates(refresh=True).values():
            yield mapping.tax_rate(rate)

    def list_ledger_accounts(self) -> Iterator[LedgerAccount]:
        for account in sorted(self.reference.accounts(refresh=True), key=lambda a: (a.Code or "", a.AccountID)):
            yield mapping.ledger_account(account)

    # -- pull ---------------------------------------------------------------------------------
    def iter_documents(
        self, kind: DocumentKind, cursor: str | None, *, lag_seconds: float = 0.0
    ) -> Iterator[Page[Document]]:
        try:
            state = Cursor.decode(cursor).started(lag_seconds)
        except ValueError as exc:
            raise DataError(str(exc), field="cursor") from None
        invoice_type = INVOICE_TYPE[kind]
        while True:
            headers = {"If-Modified-Since": mapping.if_modified_since(state.since)} if state.since else None
            answer = self.client.get(
                "/Invoices", what=f"GET Invoices ({invoice_type}, page {state.page})", model=models.Invoices,
                params={"where": f'Type=="{invoice_type}"', "order": "UpdatedDateUTC ASC", "page": state.page,
                        "pageSize": self.page_size},
                headers=headers,
            )
            invoices = answer.Invoices
            full = len(invoices) >= self.page_size
            kept = [i for i in invoices if i.Type == invoice_type and state.keeps(i)]
            state = state.advanced(invoices, full=full)
            if kept or not full:
                yield Page(items=self._documents(kept), next_cursor=state.encode())
            if not full:
                return

    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        invoice_type = INVOICE_TYPE[kind]
        page = 1
        while True:
            answer = self.client.get(
                "/Invoices", what=f"GET Invoices ids ({invoice_type}, page {page})", model=models.Invoices,
                params={"where": f'Type=="{invoice_type}"', "Statuses": EXISTING_STATUSES, "summaryOnly": "true",
                        "page": page, "pageSize": MAX_PAGE_SIZE},
            )
            for invoice in answer.Invoices:
                if invoice.InvoiceID and invoice.Type == invoice_type and invoice.Status != "DELETED":
                    yield invoice.InvoiceID
            if len(answer.Invoices) < MAX_PAGE_SIZE:
                return
            page += 1

    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        invoice = self._invoice(kind, platform_id)
        return self._documents([invoice])[0]

    def _invoice(self, kind: DocumentKind, platform_id: str) -> models.Invoice:
        def missing() -> NotFoundError:
            return NotFoundError(f"Xero has no {label(kind)} {platform_id}", details={"platform_id": platform_id})

        if not is_uuid(platform_id):
            raise missing()
        answer = self.client.get(f"/Invoices/{platform_id}", what=f"GET Invoice {platform_id}",
                                 model=models.Invoices, not_found=missing)
        found = [i for i in answer.Invoices if i.InvoiceID and i.InvoiceID.lower() == platform_id.lower()]
        if not found or found[0].Type != INVOICE_TYPE[kind]:
            raise missing()
        return found[0]

    def _documents(self, invoices: Sequence[models.Invoice]) -> list[Document]:
        if not invoices:
            return []
        rates = self.reference.tax_rates()
        if any(line.TaxType and line.TaxType not in rates for i in invoices for line in i.LineItems):
            rates = self.reference.tax_rates(refresh=True)
        values = {tax_type: mapping.rate_value(rate.EffectiveRate) for tax_type, rate in rates.items()}
        account_ids = {a.Code.upper(): a.AccountID for a in self.reference.accounts() if a.Code}
        return [mapping.document(invoice, values, account_ids) for invoice in invoices]

    # -- push: documents ----------------------------------------------------------------------
    def push_document(
        self, document: OutgoingDocument, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_documents([PushRequest(document, key, platform_id, may_exist)]))

    def push_counterpart(
        self, counterpart: OutgoingCounterpart, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_counterparts([PushRequest(counterpart, key, platform_id, may_exist)]))

    def push_documents(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        for start in range(0, len(requests), MAX_BATCH):
            yield from self._push_document_batch(requests[start:start + MAX_BATCH])

    def _push_document_batch(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        ready: list[tuple[PushRequest[OutgoingDocument], list[ResolvedLine]]] = []
        for request in requests:
            try:
                ready.append((request, self._resolve(request.item)))
            except DataError as exc:
                yield PushOutcome(request.key, error=exc)
        if not ready:
            return
        found = self._find_by_keys([r.key for r, _ in ready if r.may_exist and r.platform_id is None],
                                   {r.item.kind for r, _ in ready})
        targets = self._current([r.platform_id for r, _ in ready if r.platform_id is not None])
        elements: list[dict[str, Any]] = []
        sent: list[tuple[PushRequest[OutgoingDocument], bool]] = []
        for request, lines in ready:
            document = request.item
            target = targets.get(request.platform_id.lower()) if request.platform_id else found.get(request.key)
            if request.platform_id is not None:
                if target is None or target.Type != INVOICE_TYPE[document.kind]:
                    yield PushOutcome(request.key, error=NotFoundError(
                        f"Xero has no {label(document.kind)} {request.platform_id}",
                        details={"platform_id": request.platform_id}))
                    continue
                if (target.Status or "") not in mapping.CHANGEABLE:
                    yield PushOutcome(request.key, error=_posted(document.kind, target))
                    continue
            elif target is not None and (target.Status or "") not in mapping.CHANGEABLE:
                yield PushOutcome(request.key, result=self._result(target, created=False))
                continue
            status = "AUTHORISED" if self.post_documents else "DRAFT"
            if target is not None:
                status = target.Status if target.Status in mapping.CHANGEABLE and not self.post_documents else status
            elements.append(mapping.invoice_payload(
                document, lines, url=mapping.source_url(self._source_base, request.key), status=str(status),
                invoice_id=target.InvoiceID if target is not None else None,
            ))
            sent.append((request, target is None))
        if not elements:
            return
        answer = writes.write_batch(self.client, "/Invoices", "Invoices", elements, what=f"POST Invoices ({len(elements)})")
        invoices = models.parse_list(models.Invoice, answer, what="POST Invoices")
        if len(invoices) != len(sent):
            raise ProviderError(f"Xero answered {len(invoices)} invoices to a batch of {len(sent)}")
        for (request, creating), invoice in zip(sent, invoices, strict=True):
            if invoice.failed or not invoice.InvoiceID:
                yield PushOutcome(request.key, error=_validation_error(label(request.item.kind), invoice.ValidationErrors))
            else:
                log.info("xero.invoice_pushed", invoice=invoice.InvoiceID, created=creating)
                yield PushOutcome(request.key, result=self._result(invoice, created=creating))

    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        found = self._find_by_keys([key], {kind}).get(key)
        return self._result(found, created=False) if found is not None else None

    def void_document(self, kind: DocumentKind, platform_id: str) -> None:
        """Xero's way: a draft or submitted invoice is DELETED, an approved one VOIDED (not once paid)."""
        invoice = self._invoice(kind, platform_id)
        status = invoice.Status or ""
        if status in ("VOIDED", "DELETED"):
            return
        name = invoice.InvoiceNumber or platform_id
        if status == "PAID" or (invoice.AmountPaid or 0) > 0:
            raise DataError(f"{label(kind)} {name} has payments in Xero and cannot be voided", field="status",
                            value=status)
        target = "DELETED" if status in mapping.CHANGEABLE else "VOIDED"
        body = {"Invoices": [{"InvoiceID": invoice.InvoiceID, "Status": target}]}
        writes.write(self.client, "POST", f"/Invoices/{invoice.InvoiceID}", body, what=f"POST Invoice {name} ({target})")
        log.info("xero.invoice_voided", invoice=invoice.InvoiceID, status=target)

    # -- push: counterparts ----------------------------------------------------------------------
    def push_counterparts(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        for start in range(0, len(requests), MAX_BATCH):
            yield from self._push_counterpart_batch(requests[start:start + MAX_BATCH])

    def _push_counterpart_batch(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        numbers = {r.key: mapping.contact_number(r.key) for r in requests}
        names = [r.item.name for r in requests if r.platform_id is None and mapping.quotable(r.item.name)]
        existing = self._contacts_where(
            [f'ContactNumber=="{numbers[r.key]}"' for r in requests if r.platform_id is None]
            + [f'Name=="{name}"' for name in dict.fromkeys(names)]
        )
        by_number = {c.ContactNumber: c for c in existing if c.ContactNumber}
        elements: list[dict[str, Any]] = []
        sent: list[tuple[PushRequest[OutgoingCounterpart], bool]] = []
        for request in requests:
            counterpart = request.item
            if request.platform_id is not None:
                if not is_uuid(request.platform_id):
                    yield PushOutcome(request.key, error=NotFoundError(
                        f"Xero has no contact {request.platform_id}", details={"platform_id": request.platform_id}))
                    continue
                elements.append(mapping.contact_payload(counterpart, request.key, request.platform_id))
                sent.append((request, False))
                continue
            ours = by_number.get(numbers[request.key])
            if ours is not None and ours.ContactID:
                yield PushOutcome(request.key, result=PushResult(ours.ContactID, ours.UpdatedDateUTC, created=False))
                continue
            namesakes = [c for c in existing if (c.Name or "").strip().lower() == counterpart.name.strip().lower()
                         and (c.ContactStatus or "ACTIVE") == "ACTIVE"]
            if namesakes and namesakes[0].ContactNumber:
                yield PushOutcome(request.key, error=DataError(
                    f"Xero already has a contact named {counterpart.name!r} (contact code "
                    f"{namesakes[0].ContactNumber}); Xero wants contact names unique", field="name",
                    value=counterpart.name))
                continue
            if namesakes and namesakes[0].ContactID:
                log.info("xero.contact_adopted", contact=namesakes[0].ContactID)
                elements.append(mapping.contact_payload(counterpart, request.key, namesakes[0].ContactID))
                sent.append((request, False))
                continue
            elements.append(mapping.contact_payload(counterpart, request.key))
            sent.append((request, True))
        if not elements:
            return
        answer = writes.write_batch(self.client, "/Contacts", "Contacts", elements, what=f"POST Contacts ({len(elements)})")
        contacts = models.parse_list(models.Contact, answer, what="POST Contacts")
        if len(contacts) != len(sent):
            raise ProviderError(f"Xero answered {len(contacts)} contacts to a batch of {len(sent)}")
        for (request, creating), contact in zip(sent, contacts, strict=True):
            failed = contact.HasValidationErrors or contact.ValidationErrors or contact.StatusAttributeString == "ERROR"
            if failed or not contact.ContactID:
                yield PushOutcome(request.key, error=_validation_error("contact", contact.ValidationErrors,
                                                                       default_field="name"))
            else:
                yield PushOutcome(request.key, result=PushResult(contact.ContactID, contact.UpdatedDateUTC,
                                                                 created=creating))

    # -- push: products and payments (providers.xero.products, providers.xero.payments) -----------------
    def push_product(
        self, product: OutgoingProduct, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_products([PushRequest(product, key, platform_id, may_exist)]))

    def push_products(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        """``Items`` whose ``Code`` is made of the key: ``POST /Items`` updates or creates by it."""
        yield from self._products.push(requests)

    def push_payment(
        self, payment: OutgoingPayment, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_payments([PushRequest(payment, key, platform_id, may_exist)]))

    def push_payments(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        """``Payments`` against the invoices and bills, their key in ``Reference``; an earlier attempt's payment is
        found on its invoice (read anyway for the checks), whether or not the request says ``may_exist``."""
        yield from self._payments.push(requests)

    def delete_payment(self, kind: DocumentKind, platform_id: str) -> None:
        """``Status: DELETED`` (Xero deletes payments, never edits them); one already deleted is left as it is."""
        self._payments.delete(kind, platform_id)

    # -- helpers ----------------------------------------------------------------------------------
    def _find_by_keys(self, keys: Sequence[str], kinds: set[DocumentKind]) -> dict[str, models.Invoice]:
        """Invoices an earlier push created under these keys (by their ``Url``), by key."""
        urls = {mapping.source_url(self._source_base, key): key for key in keys if mapping.quotable(key)}
        found: dict[str, models.Invoice] = {}
        types = {INVOICE_TYPE[kind] for kind in kinds}
        chunk = list(urls)
        for start in range(0, len(chunk), LOOKUP_CHUNK):
            part = chunk[start:start + LOOKUP_CHUNK]
            answer = self.client.get("/Invoices", what=f"GET Invoices by key ({len(part)})", model=models.Invoices,
                                     params={"where": mapping.where_any("Url", part), "page": 1,
                                             "pageSize": MAX_PAGE_SIZE})
            for invoice in answer.Invoices:
                key = urls.get(invoice.Url or "")
                if key is not None and invoice.Type in types and invoice.Status != "DELETED" and invoice.InvoiceID:
                    found.setdefault(key, invoice)
        return found

    def _current(self, platform_ids: Sequence[str]) -> dict[str, models.Invoice]:
        """The invoices being updated, as Xero holds them now (one call), by lower-case id."""
        wanted = [pid for pid in platform_ids if is_uuid(pid)]
        current: dict[str, models.Invoice] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            part = wanted[start:start + LOOKUP_CHUNK]
            answer = self.client.get("/Invoices", what=f"GET Invoices by id ({len(part)})", model=models.Invoices,
                                     params={"IDs": ",".join(part), "page": 1, "pageSize": MAX_PAGE_SIZE})
            for invoice in answer.Invoices:
                if invoice.InvoiceID:
                    current[invoice.InvoiceID.lower()] = invoice
        return current

    def _contacts_where(self, clauses: Sequence[str]) -> list[models.Contact]:
        found: list[models.Contact] = []
        for start in range(0, len(clauses), LOOKUP_CHUNK):
            part = clauses[start:start + LOOKUP_CHUNK]
            answer = self.client.get("/Contacts", what=f"GET Contacts by key or name ({len(part)})",
                                     model=models.Contacts,
                                     params={"where": " OR ".join(part), "includeArchived": "true", "page": 1,
                                             "pageSize": MAX_PAGE_SIZE})
            found.extend(answer.Contacts)
        return found

    def _result(self, invoice: models.Invoice, *, created: bool) -> PushResult:
        assert invoice.InvoiceID is not None
        return PushResult(invoice.InvoiceID, invoice.UpdatedDateUTC, created=created, totals=mapping.totals(invoice))

    def _resolve(self, document: OutgoingDocument) -> list[ResolvedLine]:
        """Xero's codes for every line, checked before anything is sent (DataError naming the field)."""
        if not is_uuid(document.counterpart_platform_id):
            raise DataError(
                f"counterpart {document.counterpart_platform_id} does not exist in the accounting system",
                field="counterpart_platform_id", value=document.counterpart_platform_id)
        if not money.is_currency(document.currency):
            raise DataError(f"{document.currency!r} is not an ISO 4217 currency", field="currency",
                            value=document.currency)
        if not document.lines:
            raise DataError(f"a {label(document.kind)} needs at least one line", field="lines")
        return [self._line(document, line, index) for index, line in enumerate(document.lines)]

    def _line(self, document: OutgoingDocument, line: LineItem, index: int) -> ResolvedLine:
        """A line with its account, tax type and (for a line selling a product) the item's code. A product line
        without its own account posts to the item's account for that side, as Xero would."""
        kind, prefix = document.kind, f"lines[{index}]."
        item_code: str | None = None
        wanted_account = line.ledger_account_id
        if line.product_platform_id is not None:
            item = self.reference.item(line.product_platform_id, field=f"{prefix}product_platform_id")
            item_code = item.Code
            details = item.PurchaseDetails if kind is DocumentKind.PAYABLE else item.SalesDetails
            if wanted_account is None and details is not None and details.AccountCode:
                wanted_account = details.AccountCode
        return ResolvedLine(
            description=line.description,
            quantity=line.quantity,
            unit_amount=money.to_decimal(line.unit_price, document.currency),
            account_code=self.reference.account_code(kind, wanted_account, field=f"{prefix}ledger_account_id"),
            tax_type=self.reference.tax_type(kind, line.tax_rate_platform_id, line.tax_rate_value, prefix=prefix),
            item_code=item_code,
        )

def _posted(kind: DocumentKind, invoice: models.Invoice) -> DataError:
    name = invoice.InvoiceNumber or invoice.InvoiceID
    return DataError(
        f"{label(kind)} {name} is posted in Xero ({invoice.Status}) and booksync changes only drafts",
        field="status", value=invoice.Status)


def _validation_error(what: str, errors: Sequence[models.ValidationMessage], *, default_field: str | None = None
                      ) -> DataError:
    messages = [e.Message for e in errors if e.Message] or ["Xero refused it without saying why"]
    field = mapping.field_of(messages[0])
    if field == "document" and default_field:
        field = default_field
    return DataError(f"Xero refused the {what}: {'; '.join(messages)}", field=field,
                     details={"messages": messages})


def _single(outcomes: Iterator[PushOutcome]) -> PushResult:
    results = list(outcomes)
    if len(results) != 1:
        raise ProviderError(f"expected one outcome of a single push, got {len(results)}")
    outcome = results[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    return outcome.result

