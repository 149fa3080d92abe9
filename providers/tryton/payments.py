"""Payments in Tryton: an invoice's payment is what its pay wizard records, and a deletion cancels it.

``push`` runs ``account.invoice.pay`` as Tryton's client does (``providers.tryton.wizard``): the ``start``
view with the amount, date, payment method and a description, then — for a partial payment, where the
wizard asks — the ``ask`` view as a partial payment. The wizard posts a move in the payment method's journal
(origin: the invoice) with one line on the invoice's account (added to the invoice's payment lines) and one
on the payment method's account; a payment that settles what is left reconciles the invoice, which Tryton
then marks ``paid``. (``account_invoice/invoice.py``: ``PayInvoice``, ``Invoice.pay_invoice``.)

Where the key lives: the move's ``description`` ends with ``[booksync:<key>]``; a push that may exist looks
it up there first (moves whose origin is an invoice). The platform id of a payment is its move's id.

The account the connection says (``OutgoingPayment.account_id``) is the payment method's: an existing
payment method of the company whose debit and credit accounts are that account, or one booksync creates in
the company's first cash journal (named ``booksync: <code> <name>``). Without an account, the company's first
payment method is used.

What Tryton refuses, booksync refuses first, saying why: a draft invoice is not paid (``NotReadyError``: the
payment waits until the invoice is posted), nor a cancelled or paid one, nor in another currency, nor more
than ``amount_to_pay``.

``delete`` undoes a payment as a person would in Tryton: the payment line's reconciliation is removed
(``account.move.unreconcile_lines``; the invoice goes back from paid to posted), the line is taken off the
invoice's payment lines, and the move is cancelled (``account.move.cancel``, a reversal that Tryton
reconciles with it), acknowledging Tryton's warning that the cancelled move's origin is an invoice. Each step
looks at where the last attempt stopped, so an interrupted deletion finishes the next time. Tryton's other
warnings (a closed period) and errors refuse the deletion with Tryton's words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from providers import money
from providers.errors import DataError, NotFoundError, NotReadyError, RetryableError
from providers.tryton import mapping
from providers.tryton.mapping import INVOICE_TYPE
from providers.tryton.rpc import TrytonUserWarning
from providers.tryton.wizard import Wizard, view_values
from providers.types import DocumentKind, OutgoingPayment, PushResult

if TYPE_CHECKING:
    from providers.tryton.adapter import TrytonProvider

log = structlog.get_logger(__name__)

INVOICE_FIELDS = ["id", "type", "number", "reference", "state", "currency.code", "currency.digits", "amount_to_pay",
                  "total_amount", "account"]
MOVE_FIELDS = ["id", "description", "origin", "state", "write_date", "create_date"]
#: Tryton's warning when a cancelled move's origin is an invoice (``account_invoice``'s ``CancelMoves``).
CANCEL_INVOICE_MOVE = ".cancel_invoice_move"


def description(payment: OutgoingPayment, key: str) -> str:
    said = " · ".join(part for part in (payment.reference, payment.method) if part) or "Payment"
    return f"{said} {mapping.key_marker(key)}"


class TrytonPayments:
    """The payments of one ``TrytonProvider`` (its session, company and helpers)."""

    def __init__(self, provider: TrytonProvider) -> None:
        self.provider = provider
        self._rpc = provider._rpc
        self._methods: dict[int | None, int] = {}

    # -- push -----------------------------------------------------------------------------------
    def push(self, payment: OutgoingPayment, key: str, *, may_exist: bool) -> PushResult:
        if may_exist:
            found = self.find(key)
            if found is not None:
                return found
        invoice = self._invoice(payment)
        amount = money.to_decimal(payment.amount, payment.currency)
        method = self._payment_method(payment.account_id)
        with Wizard(self._rpc, "account.invoice.pay", "account.invoice", [invoice["id"]]) as wizard:
            start = view_values(wizard.execute(wizard.start_state)["defaults"])
            start.update(amount=amount, payment_method=method, date=payment.paid_date,
                         description=description(payment, key))
            asked = wizard.execute("choice", {"start": start})
            if asked.get("state") == "ask":  # less than is left: Tryton asks whether to write the rest off
                wizard.execute("pay", {"start": start, "ask": {**view_values(asked["defaults"]), "type": "partial"}})
        found = self.find(key)
        if found is None:
            raise RetryableError("Tryton's pay wizard ended without the payment it was asked to record")
        log.info("tryton.payment_recorded", invoice=invoice["id"], move=found.platform_id)
        return PushResult(found.platform_id, found.platform_updated_at, created=True)

    def find(self, key: str) -> PushResult | None:
        """The payment an earlier push under ``key`` recorded (its move), if any."""
        marker = mapping.key_marker(key)
        records = self._rpc.model(
            "account.move", "search_read",
            [("company", "=", self._rpc.company), ("description", "like", f"%{marker}%")],
            0, None, [["id", "ASC"]], MOVE_FIELDS,
        )
        for record in records:
            if marker in (record.get("description") or "") and str(record.get("origin") or "").startswith(
                    "account.invoice,"):
                return PushResult(str(record["id"]), mapping.as_utc(mapping.changed_at(record)), created=False)
        return None

    def _invoice(self, payment: OutgoingPayment) -> dict[str, Any]:
        """The invoice the payment settles, checked as Tryton would before recording anything."""
        try:
            invoice_id = int(payment.document_platform_id)
        except ValueError:
            raise NotFoundError(f"Tryton has no {payment.kind.value} {payment.document_platform_id!r}") from None
        records = self._rpc.model(
            "account.invoice", "search_read",
            [("type", "=", INVOICE_TYPE[payment.kind]), ("company", "=", self._rpc.company), ("id", "=", invoice_id)],
            0, 1, None, INVOICE_FIELDS,
        )
        if not records:
            raise NotFoundError(f"Tryton has no {payment.kind.value} {invoice_id}",
                                details={"platform_id": payment.document_platform_id})
        invoice = records[0]
        name = _name(invoice)
        state = invoice["state"]
        if state in ("draft", "validated"):
            raise NotReadyError(
                f"{name} is {state} in Tryton, and Tryton records payments only against posted invoices; the payment "
                "goes once it is posted there (or push documents posted: the connection's post_documents setting)",
                details={"state": state},
            )
        if state == "cancelled":
            raise DataError(f"{name} is cancelled in Tryton; a payment cannot be recorded against it", field="state",
                            value=state)
        code = (invoice.get("currency.") or {}).get("code")
        if code != payment.currency:
            raise DataError(f"the payment is in {payment.currency} but {name} is in {code} in Tryton",
                            field="currency", value=payment.currency)
        self.provider._currency(payment.currency)  # refuses a currency Tryton keeps with other digits than ISO's
        due = 0 if state == "paid" else (mapping.to_minor(invoice.get("amount_to_pay"), payment.currency) or 0)
        if payment.amount > due:
            left = "nothing is left to pay" if due <= 0 else f"{money.format_amount(due, payment.currency)} is left to pay"
            raise DataError(
                f"{money.format_amount(payment.amount, payment.currency)} would overpay {name}: {left} in Tryton",
                field="amount", value=payment.amount, details={"amount_to_pay": due},
            )
        return invoice

    def _payment_method(self, account: str | None) -> int:
        """The company's payment method on ``account`` (created in its cash journal when it has none)."""
        try:
            account_id = int(account) if account is not None else None
        except ValueError:
            raise DataError(f"account_id must be a Tryton account id (an integer), not {account!r}",
                            field="account_id", value=account) from None
        if account_id in self._methods:
            return self._methods[account_id]
        company = self._rpc.company
        domain: list[Any] = [("company", "=", company)]
        if account_id is not None:
            domain += [("debit_account", "=", account_id), ("credit_account", "=", account_id)]
        found = self._rpc.model("account.invoice.payment.method", "search", domain, 0, 1, [["id", "ASC"]])
        if found:
            method = int(found[0])
        elif account_id is None:
            raise DataError(
                "Tryton has no payment method to record payments with: set the connection's payment account "
                "(PATCH /accounting-connections/{id}/defaults) or create a payment method in Tryton",
                field="account_id",
            )
        else:
            method = self._create_method(account_id)
        self._methods[account_id] = method
        return method

    def _create_method(self, account_id: int) -> int:
        accounts = self._rpc.model("account.account", "search_read", [("id", "=", account_id),
                                   ("company", "=", self._rpc.company)], 0, 1, None, ["id", "code", "name", "type"])
        if not accounts or accounts[0].get("type") is None:
            raise DataError(f"ledger account {account_id} does not exist in Tryton or cannot take entries",
                            field="account_id", value=str(account_id))
        journals = self._rpc.model("account.journal", "search", [("type", "=", "cash")], 0, 1, [["id", "ASC"]])
        if not journals:
            raise DataError("Tryton has no cash journal to record payments in; create one", field="account_id")
        account = accounts[0]
        (method,) = self._rpc.model("account.invoice.payment.method", "create", [{
            "name": f"booksync: {account.get('code') or ''} {account['name']}".replace("  ", " "),
            "company": self._rpc.company, "journal": journals[0], "debit_account": account_id,
            "credit_account": account_id,
        }])
        log.info("tryton.payment_method_created", method=method, account=account_id)
        return int(method)

    # -- delete ---------------------------------------------------------------------------------
    def delete(self, kind: DocumentKind, platform_id: str) -> None:
        try:
            move_id = int(platform_id)
        except ValueError:
            raise NotFoundError(f"Tryton has no payment {platform_id!r}") from None
        moves = self._rpc.model("account.move", "search_read", [("id", "=", move_id), ("company", "=",
                                self._rpc.company)], 0, 1, None, MOVE_FIELDS)
        if not moves:
            raise NotFoundError(f"Tryton has no payment {platform_id}")
        if not str(moves[0].get("origin") or "").startswith("account.invoice,"):
            raise DataError(f"move {platform_id} is not an invoice's payment in Tryton", field="platform_id",
                            value=platform_id)
        if self._rpc.model("account.move", "search", [("origin", "=", f"account.move,{move_id}")], 0, 1, None):
            return  # already cancelled
        lines = self._rpc.model("account.move.line", "search_read", [("move", "=", move_id)], 0, None, [["id", "ASC"]],
                                ["id", "reconciliation", "invoice_payment"])
        reconciled = [line["id"] for line in lines if line.get("reconciliation")]
        if reconciled:
            with Wizard(self._rpc, "account.move.unreconcile_lines", "account.move.line", reconciled) as wizard:
                wizard.execute(wizard.start_state)
        paying = [line["id"] for line in lines if line.get("invoice_payment")]
        if paying:
            self._rpc.model("account.move.line", "write", paying, {"invoice_payment": None})
        self._cancel(move_id)
        log.info("tryton.payment_cancelled", move=move_id)

    def _cancel(self, move_id: int) -> None:
        acknowledged: set[str] = set()
        while True:
            try:
                with Wizard(self._rpc, "account.move.cancel", "account.move", [move_id]) as wizard:
                    wizard.execute("cancel", {"default": {
                        "reversal": True, "description": f"booksync: payment {move_id} deleted on the platform"}})
                return
            except TrytonUserWarning as warning:
                if not warning.name.endswith(CANCEL_INVOICE_MOVE) or warning.name in acknowledged:
                    raise DataError(f"Tryton would not cancel payment {move_id}: {warning.message}",
                                    field="platform_id", value=str(move_id)) from None
                self._rpc.model("res.user.warning", "create",
                                [{"user": self._rpc.user_id, "name": warning.name, "always": False}])
                acknowledged.add(warning.name)


def _name(invoice: dict[str, Any]) -> str:
    """A bill by its supplier's number, an invoice by Tryton's (as ``mapping.document`` numbers them)."""
    if invoice.get("type") == "in":
        return f"bill {invoice.get('reference') or invoice.get('number') or invoice['id']}"
    return f"invoice {invoice.get('number') or invoice.get('reference') or invoice['id']}"

