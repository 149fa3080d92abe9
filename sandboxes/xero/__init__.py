"""The local Xero: a stateful HTTP server that speaks Xero's official OpenAPI definitions and checks
every request and every answer against them (Accounting API and Identity 16.1.0, ``spec/``).

How it maps to Xero (one base URL for what are several hosts at Xero):

- ``GET|POST /identity/connect/authorize`` is login.xero.com's consent page; ``POST /connect/token`` and
  ``POST /connect/revocation`` are identity.xero.com's; ``GET /connections``, ``DELETE /connections/{id}``
  and ``/api.xro/2.0/...`` are api.xero.com's. Paths are case-insensitive, as Xero's are.
- Accounting API: Organisation, Contacts, Invoices (bills are ``ACCPAY`` invoices), Payments, Items,
  TaxRates, Accounts, Currencies, with Xero's money arithmetic, statuses, ``summarizeErrors``, paging,
  ``If-Modified-Since``, ``where``, Idempotency-Key, scopes, limits and their headers (``books.py``,
  ``api.py``, ``oauth.py``, ``limits.py``; each says which of Xero's documents it follows).
- ``/_sandbox/...`` is the sandbox's own: stats (``requests_validated``, ``requests_rejected``,
  ``responses_validated``, limits counters), recorded calls, tenants and their raw state, fault switches.

What it does not implement: the other operations of the definition (bank transactions, credit notes,
quotes, purchase orders, manual journals, reports, attachments, history, ...: they answer 501 after
their request was checked), credit note and prepayment/overpayment allocation, multi-currency
conversion into the base currency, tracking categories, ``summaryOnly`` and ``unitdp`` (accepted and
ignored), PKCE, webhooks, XML bodies, Xero's exact wording of every validation message (the common ones
are Xero's; the rest say the same thing in our words), and the identity service's own rate limits.

The process functions live in ``sandboxes.xero.sandbox`` (``start_sandbox``, ``stop_sandbox``,
``sandbox_status``, ``authorize``, ``consent_location``); they are re-exported here lazily so that
``python -m sandboxes.xero.sandbox`` does not import the module twice.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SandboxError",
    "SandboxInfo",
    "authorize",
    "consent_location",
    "running_sandbox",
    "sandbox_status",
    "start_sandbox",
    "stop_sandbox",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sandboxes.xero import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
