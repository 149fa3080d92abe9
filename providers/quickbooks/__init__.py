"""QuickBooks Online over its Accounting API v3 (``https://quickbooks.api.intuit.com``), connected with OAuth 2.0.

Two platforms: ``quickbooks_online`` (Intuit's production hosts, the app's production keys) and
``quickbooks_online_sandbox`` (Intuit's sandbox companies, the app's development keys).

Modules: ``adapter`` (the provider, and where idempotency keys live), ``mapping`` (QuickBooks objects ↔ booksync's
types, statuses, the two tax models, the pull cursor), ``client`` (HTTP, ``minorversion``, ``requestid``, Faults,
batches), ``models`` (QuickBooks' answers as typed models), ``payments`` (``BillPayment``/``Payment``), ``products``
(``Item``s), ``app`` (booksync's Intuit app: OAuth settings, token
expiries, revocation), ``limits`` (Intuit's throttles for the shared limiter). ``docs/providers/quickbooks.md``
says what maps to what and how to run against the local QuickBooks (``sandboxes.quickbooks``).
"""

from providers.quickbooks.adapter import QuickBooksProvider, QuickBooksSandboxProvider

__all__ = ["QuickBooksProvider", "QuickBooksSandboxProvider"]
