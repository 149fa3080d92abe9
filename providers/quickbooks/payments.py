"""Payment records as QuickBooks ``BillPayment``s (bills) and ``Payment``s (invoices), each applied to its document
through ``Line[].LinkedTxn``.

Following Intuit's Payment and BillPayment entity references:

- a ``Payment`` names its customer, ``TotalAmt`` and one line with the amount applied to the invoice; the money
  goes to ``DepositToAccountRef`` (an asset account), or, when none is named, to Undeposited Funds, QuickBooks'
  own default, from which a person makes the bank deposit that matches the bank line. ``PaymentRefNum`` (21
  characters) carries the platform's reference;
- a ``BillPayment`` names its vendor, ``TotalAmt``, the applied line and how it was paid: ``PayType: Check`` from a
  bank account (``CheckPayment.BankAccountRef``) or ``CreditCard`` (``CreditCardPayment.CCAccountRef``). Without an
  ``account_id`` booksync pays from the company's first active bank account in the payment's currency (a
  ``DataError`` on ``account_id`` when it has none);
- both are in the document's currency and apply at most its ``Balance`` (what QuickBooks refuses otherwise is
  checked first, a ``DataError`` naming ``currency`` or ``amount``); the paid document gets a new version with its
  new ``Balance`` and a ``LinkedTxn`` back to the payment;
- both can be updated (sparse, the current ``SyncToken``) and deleted (``operation=delete``), which gives the
  document its balance back. booksync deletes rather than voids: a payment deleted on the platform never
  happened, and a voided one would stay in QuickBooks as a zero payment.

**Where the key lives**: ``PrivateNote`` ends with ``[booksync:<key> <fingerprint>]``, as on documents. The
documents a batch pays are read anyway (their currency and balance, one query per entity); their ``LinkedTxn``
names their payments, which one more query reads (``Id IN (...)``) when there are any. So every push, ``may_exist``
or not, finds what an earlier attempt recorded and answers it (the same fingerprint) or updates it (another one),
instead of paying twice. Writes carry ``requestid`` and go as one ``/batch`` per batch (``providers.quickbooks
.writes``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import structlog

from providers import money
from providers.errors import DataError, NotFoundError, ProviderError, RetryableError
from providers.quickbooks import mapping, models
from providers.quickbooks.client import QuickBooksClient, StaleObject, dumps, quote
from providers.quickbooks.documents import DocumentPusher
from providers.quickbooks.mapping import ENTITY, PARTY_REF
from providers.quickbooks.reference import ReferenceData, by_id
from providers.quickbooks.writes import MAX_BATCH, Op, operation, requestid, write
from providers.types import DocumentKind, OutgoingPayment, PushOutcome, PushRequest, PushResult

log = structlog.get_logger(__name__)

PAYMENT_ENTITY = {DocumentKind.PAYABLE: "BillPayment", DocumentKind.RECEIVABLE: "Payment"}
REFERENCE_MAX = 21
LOOKUP_CHUNK = 50
MAX_RESULTS = 1000
DEPOSIT_TYPES = ("Bank", "Other Current Asset")


def is_id(value: object) -> bool:
    return isinstance(value, str) and value.isdigit()


class PaymentPusher:
    def __init__(self, client: QuickBooksClient, reference: ReferenceData, documents: DocumentPusher) -> None:
        self.client = client
        self.reference = reference
        self.documents = documents

    def push(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        for start in range(0, len(requests), MAX_BATCH):
            yield from self._batch(requests[start:start + MAX_BATCH])

    def _batch(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        ready: list[PushRequest[OutgoingPayment]] = []
        for request in requests:
            error = _malformed(request.item)
            if error is not None:
                yield PushOutcome(request.key, error=error)
            else:
                ready.append(request)
        if not ready:
            return
        documents = self.documents.current([(r.item.kind, r.item.document_platform_id) for r in ready])
        payments = self._payments(ready, documents)
        open_balance: dict[tuple[DocumentKind, str], Decimal] = {}
        ops: list[tuple[PushRequest[OutgoingPayment], Op, bool]] = []
        for request in ready:
            payment = request.item
            document = documents.get((payment.kind, payment.document_platform_id))
            if document is None:
                yield PushOutcome(request.key, error=NotFoundError(
                    f"QuickBooks Online has no {mapping.label(payment.kind)} {payment.document_platform_id} to record "
                    "the payment on", details={"document_platform_id": payment.document_platform_id}))
                continue
            try:
                planned = self._plan(request, document, payments, open_balance)
            except (DataError, NotFoundError) as exc:
                yield PushOutcome(request.key, error=exc)
                continue
            if isinstance(planned, models.Payment):
                yield PushOutcome(request.key, result=_result(planned, created=False))
            else:
                ops.append((request, planned, planned.operation == "create"))
        if not ops:
            return
        answers = write(self.client, self.client.realm_id, [op for _, op, _ in ops])
        for (request, op, creating), answer in zip(ops, answers, strict=True):
            if isinstance(answer, StaleObject):
                answer = self._retry_stale(op)
            if isinstance(answer, RetryableError):
                continue  # no outcome: the engine counts it unanswered and looks the key up next time
            if isinstance(answer, ProviderError):
                yield PushOutcome(request.key, error=_error(answer))
                continue
            recorded = models.parse(models.Payment, answer, what=f"{op.operation} {op.entity}")
            log.info("quickbooks.payment_pushed", entity=op.entity, id=recorded.Id, created=creating)
            yield PushOutcome(request.key, result=_result(recorded, created=creating))

    def _plan(self, request: PushRequest[OutgoingPayment], document: models.Transaction,
              payments: dict[tuple[str, str], models.Payment],
              open_balance: dict[tuple[DocumentKind, str], Decimal]) -> models.Payment | Op:
        """An earlier attempt's payment that holds this push already, or the write to send."""
        payment, key = request.item, request.key
        kind, entity = payment.kind, PAYMENT_ENTITY[payment.kind]
        name = f"{mapping.label(kind)} {document.DocNumber or document.Id}"
        currency = document.CurrencyRef.value if document.CurrencyRef else self.reference.company().home_currency
        if payment.currency != currency:
            raise DataError(f"the payment is in {payment.currency} but {name} is in {currency} in QuickBooks Online; "
                            "a payment is recorded in its document's currency", field="currency",
                            value=payment.currency)
        if mapping.is_voided(document):
            raise DataError(f"{name} was voided in QuickBooks Online and takes no payments",
                            field="document_platform_id", value=payment.document_platform_id)
        if request.platform_id is not None:
            ours = payments.get((entity, request.platform_id))
            if ours is None:
                raise NotFoundError(f"QuickBooks Online has no {entity} {request.platform_id} (it was deleted there)",
                                    details={"platform_id": request.platform_id})
        else:
            linked = [p for (e, _), p in payments.items() if e == entity and p.applied_to(document.Id)]
            ours = next((p for p in linked if key in mapping.keys_in(p.PrivateNote)), None)
        body = self._body(payment, key, document, currency)
        if ours is not None and _same_content(ours, body, key):
            return ours
        slot = (kind, document.Id)
        remaining = open_balance.get(slot, document.Balance if document.Balance is not None else document.TotalAmt)
        if ours is not None:
            remaining += ours.applied_to(document.Id)
        amount = money.to_decimal(payment.amount, payment.currency)
        if amount > remaining:
            due_now = money.format_amount(money.round_minor(remaining, currency), currency)
            raise DataError(f"the payment of {money.format_amount(payment.amount, currency)} is more than the "
                            f"{due_now} due on {name} in QuickBooks Online", field="amount", value=payment.amount)
        open_balance[slot] = remaining - amount
        if ours is None:
            return operation(entity, "create", key, body)
        return operation(entity, "update", key, {**body, "Id": ours.Id, "SyncToken": ours.SyncToken, "sparse": True})

    def _body(self, payment: OutgoingPayment, key: str, document: models.Transaction, currency: str) -> dict[str, Any]:
        kind, entity = payment.kind, PAYMENT_ENTITY[payment.kind]
        party = document.VendorRef if kind is DocumentKind.PAYABLE else document.CustomerRef
        assert party is not None
        amount = money.to_decimal(payment.amount, payment.currency)
        body: dict[str, Any] = {
            PARTY_REF[kind]: {"value": party.value},
            "CurrencyRef": {"value": currency},
            "TxnDate": payment.paid_date.isoformat(),
            "TotalAmt": amount,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": document.Id, "TxnType": ENTITY[kind]}]}],
        }
        reference = (payment.reference or "").strip()
        if kind is DocumentKind.PAYABLE:
            account = self._bill_payment_account(payment.account_id, currency)
            if account.AccountType == "Credit Card":
                body.update(PayType="CreditCard", CreditCardPayment={"CCAccountRef": {"value": account.Id}})
            else:
                body.update(PayType="Check", CheckPayment={"BankAccountRef": {"value": account.Id}})
            if reference and len(reference) <= REFERENCE_MAX:
                body["DocNumber"] = reference
        else:
            if payment.account_id is not None:
                body["DepositToAccountRef"] = {"value": self._account(payment.account_id, DEPOSIT_TYPES).Id}
            if reference:
                body["PaymentRefNum"] = reference[:REFERENCE_MAX]
        tag = hashlib.sha256(dumps({**body, "entity": entity, "reference": reference})).hexdigest()[:12]
        body["PrivateNote"] = mapping.with_marker(reference or None, key, tag=tag)
        return body

    def _account(self, wanted: str, types: Sequence[str]) -> models.Account:
        account = self.reference.accounts().get(wanted) or self.reference.accounts(refresh=True).get(wanted)
        if account is None or not account.Active:
            raise DataError(f"ledger account {wanted} does not exist in the accounting system", field="account_id",
                            value=wanted)
        if account.AccountType not in types:
            raise DataError(f"ledger account {wanted} ({account.Name}) is an {account.AccountType} account; a payment "
                            f"here goes through a {' or '.join(types)} account", field="account_id", value=wanted)
        return account

    def _bill_payment_account(self, wanted: str | None, currency: str) -> models.Account:
        if wanted is not None:
            return self._account(wanted, ("Bank", "Credit Card"))
        home = self.reference.company().home_currency
        banks = [a for a in by_id(self.reference.accounts().values()) if a.Active and a.AccountType == "Bank"
                 and (a.CurrencyRef.value if a.CurrencyRef else home) == currency]
        if not banks:
            raise DataError(f"QuickBooks Online has no active bank account in {currency} to pay the bill from; set the "
                            "connection's payment account", field="account_id")
        return banks[0]

    def _payments(self, requests: Sequence[PushRequest[OutgoingPayment]],
                  documents: dict[tuple[DocumentKind, str | None], models.Transaction]
                  ) -> dict[tuple[str, str], models.Payment]:
        """The payments of the batch's documents (their ``LinkedTxn``) and those being updated, by (entity, Id)."""
        wanted: dict[str, set[str]] = {entity: set() for entity in PAYMENT_ENTITY.values()}
        for request in requests:
            entity = PAYMENT_ENTITY[request.item.kind]
            if request.platform_id is not None and is_id(request.platform_id):
                wanted[entity].add(request.platform_id)
            document = documents.get((request.item.kind, request.item.document_platform_id))
            if document is not None:
                wanted[entity] |= {link.TxnId for link in document.LinkedTxn if link.TxnType == entity
                                   and is_id(link.TxnId)}
        found: dict[tuple[str, str], models.Payment] = {}
        for entity, ids in wanted.items():
            ordered = sorted(ids, key=int)
            for start in range(0, len(ordered), LOOKUP_CHUNK):
                part = ordered[start:start + LOOKUP_CHUNK]
                what = f"query {entity} by id ({len(part)})"
                response = self.client.query(
                    f"SELECT * FROM {entity} WHERE Id IN ({', '.join(quote(i) for i in part)}) MAXRESULTS {MAX_RESULTS}",
                    what=what)
                for recorded in models.parse_each(models.Payment, response.get(entity), what=what):
                    found[(entity, recorded.Id)] = recorded
        return found

    def _read(self, entity: str, platform_id: str) -> models.Payment | None:
        what = f"GET {entity} {platform_id}"
        try:
            answer = self.client.call("GET", f"/{entity.lower()}/{platform_id}", what=what,
                                      not_found=lambda: NotFoundError(f"QuickBooks Online has no {entity} {platform_id}"))
        except NotFoundError:
            return None
        body = models.member(answer, entity, what=what)
        return models.parse(models.Payment, body, what=what) if body is not None else None

    def _retry_stale(self, op: Op) -> Any:
        """A stale ``SyncToken`` on an update: read the payment again and send the update once more."""
        current = self._read(op.entity, str(op.body["Id"]))
        if current is None:
            return NotFoundError(f"QuickBooks Online has no {op.entity} {op.body['Id']} (it was deleted there)")
        body = {**op.body, "SyncToken": current.SyncToken}
        (answer,) = write(self.client, self.client.realm_id, [Op(op.entity, op.operation, body,
                                                                requestid("stale", op.requestid, body))])
        if isinstance(answer, StaleObject):
            return DataError(f"{op.entity} {current.Id} keeps changing in QuickBooks Online while booksync updates it",
                             field="SyncToken", details=answer.details)
        return answer

    def delete(self, kind: DocumentKind, platform_id: str) -> None:
        """``operation=delete``; a payment already deleted (or never there) is left as it is."""
        entity = PAYMENT_ENTITY[kind]
        if not is_id(platform_id):
            return
        for attempt in (1, 2):
            current = self._read(entity, platform_id)
            if current is None:
                return
            (answer,) = write(self.client, self.client.realm_id, [
                operation(entity, "delete", platform_id, {"Id": current.Id, "SyncToken": current.SyncToken})])
            if isinstance(answer, StaleObject) and attempt == 1:
                continue
            break
        if isinstance(answer, NotFoundError):
            return
        if isinstance(answer, DataError):
            raise DataError(f"QuickBooks Online refused to delete {entity} {platform_id}: {answer.message}",
                            field="payment", details=answer.details) from None
        if isinstance(answer, ProviderError):
            raise answer
        log.info("quickbooks.payment_deleted", entity=entity, id=platform_id)


def _malformed(payment: OutgoingPayment) -> ProviderError | None:
    if not is_id(payment.document_platform_id):
        return NotFoundError(f"QuickBooks Online has no {mapping.label(payment.kind)} {payment.document_platform_id}",
                             details={"document_platform_id": payment.document_platform_id})
    if not money.is_currency(payment.currency):
        return DataError(f"{payment.currency!r} is not an ISO 4217 currency", field="currency", value=payment.currency)
    if payment.amount <= 0:
        return DataError("a payment's amount must be more than zero", field="amount", value=payment.amount)
    return None


def _same_content(found: models.Payment, body: dict[str, Any], key: str) -> bool:
    sent = mapping.tag_in(str(body.get("PrivateNote") or ""), key)
    return sent is not None and mapping.tag_in(found.PrivateNote, key) == sent


def _result(payment: models.Payment, *, created: bool) -> PushResult:
    return PushResult(payment.Id, payment.MetaData.updated.astimezone(dt.UTC), created=created)


def _error(error: ProviderError) -> ProviderError:
    """A QuickBooks refusal named in the payment's fields."""
    if not isinstance(error, DataError) or isinstance(error, NotFoundError):
        return error
    leaf = (error.field or "").rsplit(".", 1)[-1]
    field = {"Amount": "amount", "TotalAmt": "amount", "CurrencyRef": "currency", "LinkedTxn": "document_platform_id",
             "TxnId": "document_platform_id", "TxnDate": "paid_date", "DepositToAccountRef": "account_id",
             "BankAccountRef": "account_id", "CCAccountRef": "account_id", "CustomerRef": "counterpart_platform_id",
             "VendorRef": "counterpart_platform_id"}.get(leaf, "payment")
    return DataError(error.message, field=field,
                     details={k: v for k, v in error.details.items() if k not in ("field", "value")})
