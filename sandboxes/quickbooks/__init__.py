"""A local QuickBooks Online: Intuit's OAuth and Accounting API v3 (JSON), stateful, every body checked
against Intuit's own XML Schema (``schema/``, from Intuit's Java SDK, Apache-2.0).

    python -m sandboxes.quickbooks.sandbox start [--dir DIR] [--port PORT] [--companies N] [--time-scale X] [--json]

    from sandboxes.quickbooks import start_sandbox, stop_sandbox
    info = start_sandbox(directory, companies=2, countries=("US", "GB"))
    from sandboxes.quickbooks.consent import connect          # plays the user: consent + code exchange
    tokens = connect(info, info.realm_ids[0])
    from sandboxes.quickbooks.validation import validate_entity  # what an adapter test checks its requests with

How it maps to QuickBooks Online
--------------------------------
- One base URL stands for Intuit's hosts: ``/connect/oauth2`` (appcenter.intuit.com),
  ``/oauth2/v1/tokens/bearer`` (oauth.platform.intuit.com), ``/v2/oauth2/tokens/revoke``
  (developer.api.intuit.com) and ``/v3/company/{realmId}/...`` (quickbooks.api.intuit.com), paths as Intuit's.
- OAuth (``oauth.py``): consent page → ``code``/``state``/``realmId``; Basic client auth; access tokens for an
  hour; refresh tokens rotate on every refresh, roll over 100 days and stop at the grant's five-year cap;
  ``x_refresh_token_expires_in`` always, ``x_refresh_token_hard_expires_in`` when the request sends
  ``x-include-refresh-token-hard-expires-in: true`` (Intuit's 2025 policy); ``invalid_grant`` for spent,
  expired or revoked tokens; revoking any token of a grant ends the grant.
- Entities: Bill, Invoice, Payment, BillPayment (create, read, full and sparse update, delete; void of
  invoices with ``operation=void`` and of payments with ``operation=update&include=void``), Vendor,
  Customer, Item, Account (no delete: ``Active: false``), TaxCode and TaxRate (read-only, as in the API),
  CompanyInfo and Preferences (read, update). ``Id`` per entity sequence, ``SyncToken`` versions (5010 when
  stale), ``MetaData`` times in Pacific time to the second, deletions kept for CDC.
- Query (``query.py``), CDC (``/cdc``, 30 days back at most, 1,000 objects an answer), batch (``/batch``,
  30 items, serial, a ``Fault`` per item), ``requestid`` replay (the first answer, nothing done again).
- Money and tax (``tax.py``, ``transactions.py``): cents half up, tax per rate; the US model (TAX/NON lines,
  one sales tax code per transaction) or the global one (a tax code per line, purchase rates on bills,
  ``GlobalTaxCalculation``); balances moved by payments; multicurrency with ``ExchangeRate`` and home amounts.
- Limits (``limits.py``): 500 calls a minute and 10 in flight per realm, batches 120 a minute per realm and
  40 per realm and app; 429 ``ThrottleExceeded``; ``time_scale`` shrinks the windows; every accepted call is
  recorded (``/_sandbox/stats``, ``/_sandbox/calls``).
- ``minorversion``: below 75 is served as 75 and counted (Intuit ignores older ones since August 2025);
  ``reject_old_minorversion`` answers 400 instead. ``Accept`` must ask for JSON.
- Control plane (``/_sandbox``): companies (create, list, raw state per entity: the tests' oracle), stats,
  fault switches (``switches.py``), the clock (move it to pass token lifetimes without waiting).

What it omits
-------------
XML bodies; entities beyond the twelve above (estimates, credit memos, journal entries, attachments...),
reports, webhooks, the tax service (creating tax codes), OpenID Connect (``id_token``, userinfo), PKCE and
public clients; line types other than ``SalesItemLineDetail``/``DescriptionOnly`` on invoices and
``AccountBasedExpenseLineDetail`` on bills (discounts, groups, item-based expenses, inventory); automated
US sales tax by address (a fixed combined code stands in); ledger postings (``Account.CurrentBalance`` stays
0, customers and vendors carry no ``Balance``); Intuit's ``intuit_tid`` header; the distinction between
Intuit's sandbox and production hosts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SandboxError", "SandboxInfo", "sandbox_status", "start_sandbox", "stop_sandbox"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sandboxes.quickbooks import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
