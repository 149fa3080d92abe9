"""The QuickBooks Online adapter (Accounting API v3): ``Bill`` is a payable, ``Invoice`` a receivable, ``Vendor`` and
``Customer`` the counterparts, ``TaxCode`` (with its ``TaxRate``s) a tax rate, ``Account`` a ledger account.

Where the idempotency keys live, and why (from Intuit's entity references and its query documentation):

- A pushed **bill or invoice** ends its ``PrivateNote`` with ``[booksync:<key>]``. ``DocNumber`` would not do:
  it is the supplier's bill number or the invoice number the customer sees, it is 21 characters at most (a
  key is 32) and invoices refuse duplicates of it. ``PrivateNote`` ("Memo" on a bill, the private note of an
  invoice) is 4,000 characters, never printed on what the customer gets, kept when QuickBooks voids a
  document (it prepends "Voided"), and read by nothing of QuickBooks' own. Intuit's query language cannot
  filter on it, so a lookup narrows on what it can filter on and checks the marker on booksync's side: the
  document's ``DocNumber`` (``DocNumber IN (...)``, one query per batch), or its party and date when it has
  no number. ``find_pushed`` (a key alone) reads the documents newest first until it finds the marker: the
  engine never calls it, pushes do their own narrow lookups.
- A pushed **vendor or customer** ends its ``Notes`` with the same marker and is looked up by
  ``DisplayName`` (filterable). One with exactly the pushed name and no booksync marker is adopted.
- Every create and update carries ``requestid`` = a hash of the key and the exact request, so a request sent
  again after a lost answer is answered by QuickBooks from its first attempt and done once. The request is
  part of the hash on purpose: QuickBooks answers a known ``requestid`` with its first answer, a refusal
  included, so a ``requestid`` of the key alone would keep refusing a document after its data was fixed. A
  push marked ``may_exist`` (an earlier attempt may have reached QuickBooks) looks its key up first; what it
  finds is updated with the push's content instead of created again.
- A pushed **payment** (``BillPayment``, ``Payment``) ends its ``PrivateNote`` with the marker too and is found
  through its document's ``LinkedTxn`` (``payments``); a pushed **product** (``Item``) carries it as its ``Sku``
  (``products``).

Counterparts: QuickBooks keeps vendors and customers in two lists whose display names must be unique across
both, so a counterpart that is both is two objects, and its platform id names both, ``vendor:12,customer:34``
(``parties``); documents take the one of their kind (a bare id, as pulled documents carry, is the kind's own).

Updates: QuickBooks has no drafts and lets any bill or invoice change, so booksync updates what it pushed
(a sparse update: only the fields booksync sets change, ``Line`` as a whole) with the current ``SyncToken``;
a stale one (Fault 5010) is read again once, then the push is a ``DataError``. A voided invoice is not
changed. Void: an invoice is voided (``operation=void``); a bill cannot be voided through the API, so it is
deleted (``operation=delete``), as Intuit's own apps do.

Pushes are batched (``max_batch`` 30, Intuit's limit per ``/batch`` request): the lookups of a batch are one
query per entity, its writes one ``/batch`` call whose items answer one by one (a ``Fault`` on one item is
that document's ``DataError``); a batch of one is a plain call. A batch call holds a slot of the realm's
limit and of the batch endpoint's own (``providers.quickbooks.limits``).

Modules: ``bodies`` builds what is sent (lines, tax by the company's model, accounts, items), ``documents``,
``parties``, ``products`` and ``payments`` push, ``pulls`` pulls, ``writes`` sends (plain or batched),
``reference`` keeps the company's reference data.

Connection settings: ``realm_id`` (set by the OAuth callback), ``page_size`` (1-1000, default 1000),
``default_item_id``, ``expense_account_id``. Credentials: the OAuth token set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import structlog

from config.logging import register_secret
from config.secrets import Credentials
from config.settings import get_settings
from providers import oauth
from providers.base import AccountingProvider, CredentialStore
from providers.errors import DataError, NotFoundError, ProviderError, RetryableError
from providers.http import HttpSettings, RateLimiter, build_client
from providers.oauth import DEFAULT_REFRESH_MARGIN, LocalCredentialStore, OAuthApp, Tenant, TokenSet
from providers.quickbooks import app as qb_app
from providers.quickbooks import mapping, models
from providers.quickbooks.bodies import DocumentBodies
from providers.quickbooks.client import QuickBooksClient
from providers.quickbooks.documents import DocumentPusher, is_id
from providers.quickbooks.limits import QUICKBOOKS, QUICKBOOKS_BATCH, rate_limit_key
from providers.quickbooks.mapping import ENTITY, Cursor
from providers.quickbooks.parties import PartyPusher
from providers.quickbooks.payments import PaymentPusher
from providers.quickbooks.products import ProductPusher
from providers.quickbooks.pulls import Puller
from providers.quickbooks.reference import ReferenceData
from providers.quickbooks.writes import MAX_BATCH
from providers.ratelimit import combined, rate_limiter
from providers.registry import register
from providers.types import (
    ConnectionCheck,
    Document,
    DocumentKind,
    LedgerAccount,
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

MAX_PAGE_SIZE = 1000
#: Every page is one of the realm's calls, spent beside the pushes: the most a query returns.
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE
TOKEN_FIELDS = frozenset({"access_token", "refresh_token", "expires_at", "refresh_expires_at", "token_type",
                          "scope", "extra"})


@register("quickbooks_online")
class QuickBooksProvider(AccountingProvider):
    display_name = "QuickBooks Online"
    supports_update = True
    supports_revoke = True
    uses_oauth = True
    max_batch = MAX_BATCH
    supports_products = True
    supports_payments = True
    #: Which of Intuit's environments: its production hosts and keys, or its sandbox ones.
    environment: ClassVar[str] = qb_app.PRODUCTION

    def __init__(
        self,
        settings: Mapping[str, Any],
        credentials: Credentials,
        *,
        credential_store: CredentialStore | None = None,
        transport: httpx.BaseTransport | None = None,
        http_settings: HttpSettings | None = None,
        rate_limiter: RateLimiter | None = None,
        batch_rate_limiter: RateLimiter | None = None,
        page_size: int | None = None,
        app: OAuthApp | None = None,
        api_url: str | None = None,
        refresh_margin: dt.timedelta = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        """``app`` and ``api_url`` default to booksync's settings; the limiters to the shared ones of
        ``providers.quickbooks.limits`` (tests pass their own, and ``transport``, ``page_size``)."""
        super().__init__(settings, credentials, credential_store=credential_store)
        self.validate_settings(settings, {})
        realm_id = settings.get("realm_id")
        if not is_id(realm_id):
            raise DataError("realm_id must name the QuickBooks company (finish the connection's consent first)",
                            field="realm_id")
        self.realm_id = str(realm_id)
        self.books_id = f"quickbooks:{self.realm_id}"
        self.app = app or qb_app.oauth_app(self.environment)
        self.refresh_margin = refresh_margin
        self._store: CredentialStore = credential_store or LocalCredentialStore(credentials)
        self._transport = transport
        realm_limits = rate_limiter or _shared(QUICKBOOKS)
        self._http = build_client(
            provider="quickbooks", base_url=(api_url or qb_app.api_url(self.environment)).rstrip("/"),
            settings=http_settings, transport=transport, rate_limiter=realm_limits,
            rate_limit_key=rate_limit_key(self.realm_id), display_name=self.display_name,
        )
        self.client = QuickBooksClient(
            self._http, realm_id=self.realm_id, access_token=self._access_token, renew=self._renew,
            batch_limiter=combined(batch_rate_limiter or _shared(QUICKBOOKS_BATCH), realm_limits),
        )
        self.reference = ReferenceData(self.client, self.settings)
        self._pull = Puller(self.client, int(page_size or settings.get("page_size") or DEFAULT_PAGE_SIZE),
                            self._documents)
        bodies = DocumentBodies(self.reference, self.settings)
        self._documents_out = DocumentPusher(self.client, self.reference, bodies, self._read)
        self._parties = PartyPusher(self.client)
        self._products = ProductPusher(self.client, self.reference, bodies)
        self._payments = PaymentPusher(self.client, self.reference, self._documents_out)

    # -- the connect flow (providers.oauth.OAuthPlatform) ----------------------------------------------
    @classmethod
    def oauth_app(cls) -> OAuthApp:
        return qb_app.oauth_app(cls.environment)

    @classmethod
    def oauth_tenants(cls, token: TokenSet, callback: Mapping[str, str] | None = None) -> list[Tenant]:
        """Intuit names the company the person chose in the redirect's ``realmId``."""
        realm = (callback or {}).get("realmId") or ""
        return [Tenant(realm, f"QuickBooks company {realm}")] if is_id(realm) else []

    @classmethod
    def oauth_settings(cls, tenant: Tenant) -> dict[str, Any]:
        return {"realm_id": tenant.id}

    # -- connection ----------------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        """Creating a connection gives no credentials: Intuit's consent does (``connection_url``)."""
        if credentials:
            raise DataError("a QuickBooks Online connection gets its credentials from Intuit's consent page; send "
                            "none", field="credentials")
        realm = settings.get("realm_id")
        if realm is not None and not is_id(realm):
            raise DataError("realm_id must be a QuickBooks company id (digits)", field="realm_id")
        page_size = settings.get("page_size")
        if page_size is not None and (isinstance(page_size, bool) or not isinstance(page_size, int)
                                      or not 1 <= page_size <= MAX_PAGE_SIZE):
            raise DataError("page_size must be an integer from 1 to 1000", field="page_size")
        for name in ("default_item_id", "expense_account_id"):
            value = settings.get(name)
            if value is not None and not is_id(value):
                raise DataError(f"{name} must be a QuickBooks id (digits, as a string)", field=name)

    def check(self) -> ConnectionCheck:
        company = self.reference.company(refresh=True)
        tax = "US sales tax" if company.us else "tax code per line"
        details = {
            "realm_id": self.realm_id,
            "legal_name": company.legal_name,
            "base_currency": company.home_currency,
            "country": company.country,
            "email": company.email or "",
            "tax_model": "us" if company.us else "global",
            "type": f"QuickBooks Online company ({tax})",
            "multicurrency": "yes" if company.multicurrency else "no",
            "environment": self.environment,
        }
        return ConnectionCheck(organization_name=company.name, books_id=self.books_id,
                               details={k: v for k, v in details.items() if v})

    def warnings(self) -> list[str]:
        warning = qb_app.authorization_warning(self.credentials,
                                               days=get_settings().quickbooks_authorization_warning_days)
        if warning:
            log.warning("quickbooks.authorization_ending", realm_id=self.realm_id)
        return [warning] if warning else []

    def revoke(self) -> None:
        qb_app.revoke(self.app, self.credentials, transport=self._transport)

    def close(self) -> None:
        self._http.close()

    # -- tokens ---------------------------------------------------------------------------------------
    def _tokens(self) -> TokenSet:
        return TokenSet.from_credentials(self.credentials, platform=qb_app.NAME)

    def _access_token(self) -> str:
        token = self._tokens()
        if token.is_stale(margin=self.refresh_margin):
            token = self._refresh()
        return token.access_token

    def _renew(self) -> str:
        return self._refresh().access_token

    def _refresh(self) -> TokenSet:
        def renew(current: Credentials) -> Credentials:
            previous = TokenSet.from_credentials(current, platform=qb_app.NAME)
            renewed = qb_app.with_expiries(oauth.refresh(self.app, previous, transport=self._transport))
            renewed = qb_app.carry_hard_expiry(renewed, previous)
            fresh = renewed.to_credentials(**{k: v for k, v in current.items() if k not in TOKEN_FIELDS})
            register_secret(*fresh.secret_values())
            return fresh

        self.credentials = self._store.refresh(self.credentials, renew)
        register_secret(*self.credentials.secret_values())
        return self._tokens()

    # -- pull -------------------------------------------------------------------------------------------
    def list_tax_rates(self) -> Iterator[TaxRate]:
        table = self.reference.taxes(refresh=True)
        for code in table.listed():
            yield table.tax_rate(code)

    def list_ledger_accounts(self) -> Iterator[LedgerAccount]:
        for account in sorted(self.reference.accounts(refresh=True).values(), key=lambda a: (a.AcctNum or "", a.Name)):
            yield mapping.ledger_account(account)

    def iter_documents(
        self, kind: DocumentKind, cursor: str | None, *, lag_seconds: float = 0.0
    ) -> Iterator[Page[Document]]:
        try:
            state = Cursor.decode(cursor)
        except ValueError as exc:
            raise DataError(str(exc), field="cursor") from None
        yield from self._pull.changes(kind, state, lag_seconds)

    def iter_document_ids(self, kind: DocumentKind) -> Iterator[str]:
        yield from self._pull.ids(kind)

    def get_document(self, kind: DocumentKind, platform_id: str) -> Document:
        return self._documents(kind, [self._read(kind, platform_id)])[0]

    def _read(self, kind: DocumentKind, platform_id: str) -> models.Transaction:
        entity = ENTITY[kind]

        def missing() -> NotFoundError:
            return NotFoundError(f"QuickBooks Online has no {mapping.label(kind)} {platform_id}",
                                 details={"platform_id": platform_id})

        if not is_id(platform_id):
            raise missing()
        what = f"GET {entity} {platform_id}"
        answer = self.client.call("GET", f"/{entity.lower()}/{platform_id}", what=what, not_found=missing)
        body = models.member(answer, entity, what=what)
        if body is None:
            raise missing()
        return models.parse(models.Transaction, body, what=what)

    def _documents(self, kind: DocumentKind, txns: Sequence[models.Transaction]) -> list[Document]:
        if not txns:
            return []
        table = self.reference.taxes()
        if {ref for txn in txns for ref in _tax_refs(txn)} - set(table.codes):
            table = self.reference.taxes(refresh=True)
        items: dict[str, str] = {}
        if kind is DocumentKind.RECEIVABLE:
            items = {i.Id: i.IncomeAccountRef.value for i in self.reference.items().values() if i.IncomeAccountRef}
        home = self.reference.company().home_currency
        return [mapping.document(kind, txn, table, home, items) for txn in txns]

    # -- push -------------------------------------------------------------------------------------------
    def push_document(
        self, document: OutgoingDocument, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_documents([PushRequest(document, key, platform_id, may_exist)]))

    def push_counterpart(
        self, counterpart: OutgoingCounterpart, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_counterparts([PushRequest(counterpart, key, platform_id, may_exist)]))

    def push_documents(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        yield from self._documents_out.push(requests)

    def push_counterparts(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        yield from self._parties.push(requests)

    def find_pushed(self, kind: DocumentKind, key: str) -> PushResult | None:
        """Reads the documents newest first until one carries the key's marker (Intuit cannot filter on
        ``PrivateNote``); pushes look keys up by their document's number or party and date instead."""
        return self._documents_out.find_by_key(kind, key)

    def void_document(self, kind: DocumentKind, platform_id: str) -> None:
        """Invoices are voided; bills, which the API cannot void, are deleted. Done again, nothing happens."""
        self._documents_out.void(kind, platform_id)


    # -- products and payments (providers.quickbooks.products, providers.quickbooks.payments) ---------------
    def push_product(
        self, product: OutgoingProduct, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_products([PushRequest(product, key, platform_id, may_exist)]))

    def push_products(self, requests: Sequence[PushRequest[OutgoingProduct]]) -> Iterator[PushOutcome]:
        """``Item``s (``Service`` / ``NonInventory``), their key in ``Sku``; invoice lines selling them name them."""
        yield from self._products.push(requests)

    def push_payment(
        self, payment: OutgoingPayment, key: str, platform_id: str | None, *, may_exist: bool = True
    ) -> PushResult:
        return _single(self.push_payments([PushRequest(payment, key, platform_id, may_exist)]))

    def push_payments(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        """``BillPayment``s and ``Payment``s applied to their documents, their key in ``PrivateNote``; what an
        earlier attempt recorded is found through the documents' ``LinkedTxn``, ``may_exist`` or not."""
        yield from self._payments.push(requests)

    def delete_payment(self, kind: DocumentKind, platform_id: str) -> None:
        """``operation=delete`` (the document gets its balance back); one already deleted is left as it is."""
        self._payments.delete(kind, platform_id)


@register("quickbooks_online_sandbox")
class QuickBooksSandboxProvider(QuickBooksProvider):
    """Intuit's sandbox companies: the app's development keys and ``sandbox-quickbooks.api.intuit.com``."""

    display_name = "QuickBooks Online"
    environment = qb_app.SANDBOX


def _shared(policy: Any) -> RateLimiter:
    return rate_limiter(policy)


def _tax_refs(txn: models.Transaction) -> set[str]:
    refs = set()
    for line in txn.Line:
        detail = line.SalesItemLineDetail or line.AccountBasedExpenseLineDetail or line.ItemBasedExpenseLineDetail
        if detail is not None and detail.TaxCodeRef is not None:
            refs.add(detail.TaxCodeRef.value)
    if txn.TxnTaxDetail and txn.TxnTaxDetail.TxnTaxCodeRef:
        refs.add(txn.TxnTaxDetail.TxnTaxCodeRef.value)
    return refs - {mapping.US_TAXABLE, mapping.US_NOT_TAXABLE}


def _single(outcomes: Iterator[PushOutcome]) -> PushResult:
    results = list(outcomes)
    if not results:
        raise RetryableError("QuickBooks Online gave no answer for the push; it is looked up before it is sent again")
    if len(results) != 1:
        raise ProviderError(f"expected one outcome of a single push, got {len(results)}")
    outcome = results[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    return outcome.result
