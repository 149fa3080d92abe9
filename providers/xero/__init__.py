"""Xero over its Accounting API 2.0 (``https://api.xero.com/api.xro/2.0``), connected with OAuth 2.0.

Modules: ``adapter`` (the provider, and where idempotency keys live), ``mapping`` (Xero objects ↔
booksync's types, statuses, the pull cursor), ``client`` (HTTP, errors, limit headers), ``models``
(Xero's answers as typed models), ``reference`` (tax rates, accounts, items and the choices among them),
``writes`` (Idempotency-Key, batched writes), ``payments`` (payment records as ``Payments``), ``products``
(products as ``Items``), ``app`` (booksync's Xero app: OAuth settings, scopes, tenants), ``limits`` (Xero's
rate limits as data for the shared limiter). ``docs/providers/xero.md`` says what
maps to what and how to run against the local Xero (``sandboxes.xero``).
"""

from providers.xero.adapter import XeroProvider

__all__ = ["XeroProvider"]
