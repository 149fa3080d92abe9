"""Payment records as Xero ``Payments`` against ``ACCPAY`` (bills) and ``ACCREC`` (invoices) invoices.

Following developer.xero.com/documentation/api/accounting/payments: a payment names its invoice (``InvoiceID``),
the account the money left or reached (a ``BANK`` account, or one with ``EnablePaymentsToAccount``), a ``Date`` and
an ``Amount`` in the invoice's currency, at most what is due; payments go against ``AUTHORISED`` invoices only; an
invoice paid in full becomes ``PAID``; a payment cannot be edited, only deleted (``POST /Payments/{id}`` with
``Status: DELETED``), which gives the invoice its due back.

- **Batches**: one ``PUT /Payments?summarizeErrors=false`` per batch (``MAX_BATCH``, as for invoices): each
  payment answers with its own ``ValidationErrors``, so a refused one is that payment's ``DataError``. Before it,
  one ``GET /Invoices?IDs=…`` reads every invoice the batch pays, as Xero holds it now.
- **Checks before anything is sent** (a ``DataError`` naming the field): a currency other than the invoice's
  (``currency``; Xero would take the amount as the invoice's currency), an amount over what is due, counting the
  batch's earlier payments of the same invoice (``amount``), an invoice not approved or void
  (``document_platform_id``), an account that takes no payments (``account_id``).
- **The account**: the payment's ``account_id`` (an AccountID or a code), else the lowest-coded active bank
  account in the payment's currency, else one in the base currency (``XeroReference.payment_account``).
- **Where the key lives**: ``Reference`` ends with ``[booksync:<key>]`` (``mapping.payment_reference``). Xero lists
  each invoice's payments with their ``Reference`` (``Invoice.Payments``), and the push reads the invoices anyway:
  every push, ``may_exist`` or not, finds a payment an earlier attempt made at no extra call, and answers it
  instead of paying twice. A found payment with another amount or date (the record changed) is replaced: deleted,
  then recorded again (Xero cannot edit a payment).
- Every write carries the ``Idempotency-Key`` of its exact request (``providers.xero.writes``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import structlog

from providers import money
from providers.errors import DataError, NotFoundError, ProviderError
from providers.types import DocumentKind, OutgoingPayment, PushOutcome, PushRequest, PushResult
from providers.xero import mapping, models, writes
from providers.xero.client import XeroClient
from providers.xero.mapping import INVOICE_TYPE
from providers.xero.reference import XeroReference

log = structlog.get_logger(__name__)

#: As for invoices: Xero recommends at most 50 elements per request.
MAX_BATCH = 50
PAYMENT_TYPE = {DocumentKind.PAYABLE: "ACCPAYPAYMENT", DocumentKind.RECEIVABLE: "ACCRECPAYMENT"}
#: Xero's validation messages on a payment → the field of ``OutgoingPayment`` they are about.
FIELD_OF_MESSAGE = (("amount", "amount"), ("account", "account_id"), ("invoice", "document_platform_id"),
                    ("document", "document_platform_id"), ("date", "paid_date"), ("currency", "currency"))

Invoices = Callable[[Sequence[str]], dict[str, models.Invoice]]


def label(kind: DocumentKind) -> str:
    return "bill" if kind is DocumentKind.PAYABLE else "invoice"


class XeroPayments:
    """``invoices`` reads invoices by id as Xero holds them now (by lower-case id), in one call."""

    def __init__(self, client: XeroClient, reference: XeroReference, invoices: Invoices,
                 is_id: Callable[[object], bool]) -> None:
        self.client = client
        self.reference = reference
        self.invoices = invoices
        self.is_id = is_id

    def push(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        for start in range(0, len(requests), MAX_BATCH):
            yield from self._batch(requests[start:start + MAX_BATCH])

    def _batch(self, requests: Sequence[PushRequest[OutgoingPayment]]) -> Iterator[PushOutcome]:
        ready: list[PushRequest[OutgoingPayment]] = []
        for request in requests:
            error = self._malformed(request.item)
            if error is not None:
                yield PushOutcome(request.key, error=error)
            else:
                ready.append(request)
        if not ready:
            return
        invoices = self.invoices(sorted({r.item.document_platform_id for r in ready}))
        due: dict[str, Decimal] = {}  # what stays due on each invoice once the batch's earlier payments are made
        elements: list[dict[str, Any]] = []
        sent: list[PushRequest[OutgoingPayment]] = []
        for request in ready:
            payment = request.item
            invoice = invoices.get(payment.document_platform_id.lower())
            if invoice is None or invoice.Type != INVOICE_TYPE[payment.kind] or not invoice.InvoiceID:
                yield PushOutcome(request.key, error=NotFoundError(
                    f"Xero has no {label(payment.kind)} {payment.document_platform_id} to record the payment on",
                    details={"document_platform_id": payment.document_platform_id}))
                continue
            try:
                element, found = self._plan(request, invoice, due)
            except (DataError, NotFoundError) as exc:
                yield PushOutcome(request.key, error=exc)
                continue
            if element is None:
                assert found is not None
                yield PushOutcome(request.key, result=self._result(found.PaymentID, created=False))
                continue
            elements.append(element)
            sent.append(request)
        if not elements:
            return
        answer = writes.write_batch(self.client, "/Payments", "Payments", elements, method="PUT",
                                    what=f"PUT Payments ({len(elements)})")
        payments = models.parse_list(models.Payment, answer, what="PUT Payments")
        if len(payments) != len(sent):
            raise ProviderError(f"Xero answered {len(payments)} payments to a batch of {len(sent)}")
        for request, recorded in zip(sent, payments, strict=True):
            if recorded.failed or not recorded.PaymentID:
                yield PushOutcome(request.key, error=_refused(recorded.ValidationErrors))
            else:
                log.info("xero.payment_pushed", payment=recorded.PaymentID, invoice=request.item.document_platform_id)
                yield PushOutcome(request.key, result=PushResult(recorded.PaymentID, recorded.UpdatedDateUTC,
                                                                 created=True))

    def _malformed(self, payment: OutgoingPayment) -> ProviderError | None:
        if not self.is_id(payment.document_platform_id):
            return NotFoundError(f"Xero has no {label(payment.kind)} {payment.document_platform_id}",
                                 details={"document_platform_id": payment.document_platform_id})
        if not money.is_currency(payment.currency):
            return DataError(f"{payment.currency!r} is not an ISO 4217 currency", field="currency",
                             value=payment.currency)
        if payment.amount <= 0:
            return DataError("a payment's amount must be more than zero", field="amount", value=payment.amount)
        return None

    def _plan(self, request: PushRequest[OutgoingPayment], invoice: models.Invoice, due: dict[str, Decimal]
              ) -> tuple[dict[str, Any] | None, models.PaymentSummary | None]:
        """What to send for one payment (None: an earlier attempt's payment, found, answers it)."""
        payment, key = request.item, request.key
        name = f"{label(payment.kind)} {invoice.InvoiceNumber or invoice.InvoiceID}"
        assert invoice.InvoiceID is not None
        currency = invoice.CurrencyCode or ""
        if payment.currency != currency:
            raise DataError(f"the payment is in {payment.currency} but {name} is in {currency} in Xero; a payment is "
                            "recorded in its document's currency", field="currency", value=payment.currency)
        amount = money.to_decimal(payment.amount, payment.currency)
        ours = [p for p in invoice.Payments if key in mapping.payment_keys(p.Reference)
                or (request.platform_id is not None and p.PaymentID.lower() == request.platform_id.lower())]
        remaining = due.get(invoice.InvoiceID, invoice.AmountDue if invoice.AmountDue is not None else Decimal(0))
        if ours:
            found = ours[0]
            if found.Amount == amount and found.Date == payment.paid_date:
                return None, found
            log.info("xero.payment_replaced", payment=found.PaymentID, invoice=invoice.InvoiceID)
            self._delete(found.PaymentID, what=f"the earlier payment of {name}")
            remaining += found.Amount or Decimal(0)
        elif request.platform_id is not None:
            raise NotFoundError(f"Xero has no payment {request.platform_id} on {name} (it was deleted in Xero)",
                                details={"platform_id": request.platform_id})
        status = (invoice.Status or "").upper()
        if status in ("VOIDED", "DELETED"):
            raise DataError(f"{name} is void in Xero and takes no payments", field="document_platform_id",
                            value=payment.document_platform_id)
        if status in mapping.CHANGEABLE:
            raise DataError(f"{name} is a draft in Xero ({status}); Xero records payments only on approved "
                            "documents", field="document_platform_id", value=payment.document_platform_id)
        if amount > remaining:
            due_now = money.format_amount(money.round_minor(remaining, currency), currency)
            raise DataError(f"the payment of {money.format_amount(payment.amount, currency)} is more than the "
                            f"{due_now} due on {name} in Xero", field="amount", value=payment.amount)
        account = self.reference.payment_account(payment.account_id, currency)
        due[invoice.InvoiceID] = remaining - amount
        return mapping.payment_payload(payment, key, account_id=account.AccountID), None

    def _result(self, payment_id: str, *, created: bool) -> PushResult:
        found = self._payment(payment_id)
        return PushResult(payment_id, found.UpdatedDateUTC if found else None, created=created)

    def _payment(self, payment_id: str) -> models.Payment | None:
        try:
            answer = self.client.get(f"/Payments/{payment_id}", what=f"GET Payment {payment_id}", model=models.Payments)
        except NotFoundError:
            return None
        found = [p for p in answer.Payments if p.PaymentID and p.PaymentID.lower() == payment_id.lower()]
        return found[0] if found else None

    def delete(self, kind: DocumentKind, platform_id: str) -> None:
        """``Status: DELETED``; a payment already deleted (or never there) is left as it is."""
        if not self.is_id(platform_id):
            return
        current = self._payment(platform_id)
        if current is None or (current.Status or "").upper() == "DELETED":
            return
        if current.PaymentType and current.PaymentType != PAYMENT_TYPE[kind]:
            raise NotFoundError(f"Xero's payment {platform_id} is not a payment of a {label(kind)}",
                                details={"platform_id": platform_id})
        self._delete(platform_id, what=f"payment {platform_id}")
        log.info("xero.payment_deleted", payment=platform_id)

    def _delete(self, payment_id: str, *, what: str) -> None:
        try:
            writes.write(self.client, "POST", f"/Payments/{payment_id}", {"Status": "DELETED"},
                         what=f"POST Payment {payment_id} (DELETED)")
        except DataError as exc:
            raise DataError(f"Xero refused to delete {what}: {exc.message}", field="payment",
                            details=exc.details) from None


def _refused(errors: Sequence[models.ValidationMessage]) -> DataError:
    messages = [e.Message for e in errors if e.Message] or ["Xero refused it without saying why"]
    lowered = messages[0].lower()
    field = next((name for needle, name in FIELD_OF_MESSAGE if needle in lowered), "payment")
    return DataError(f"Xero refused the payment: {'; '.join(messages)}", field=field, details={"messages": messages})
