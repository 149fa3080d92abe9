"""Intuit's throttles for the QuickBooks Online Accounting API, as policies of the shared limiter.

Intuit's "API call limits and throttles" (developer.intuit.com/app/developer/qbo/docs/learn/limits-and-throttles)
and its 2016 concurrency announcement: per realm (company) and app, 500 requests a minute, batch requests
included, and at most 10 at once; a request over a limit is answered HTTP 429 with a ``ThrottleExceeded``
Fault (errorCode 003001), after which Intuit asks to wait 60 seconds. The batch endpoint has limits of its
own on top: 120 batch requests a minute per realm, and 40 a minute per realm and app (Intuit's batch sample,
IntuitDeveloper/SampleApp-Batch-Java: "Max 40 batch requests per minute per realmId"). booksync is one app,
so 40 is the one that binds; both are kept so the numbers read as Intuit publishes them.

Windows are one second longer than Intuit's minute: booksync counts a call when it leaves, Intuit when it
arrives, and the time between differs from call to call, so a call admitted exactly 60 s after the 500th
before it could still arrive inside Intuit's minute. The extra second costs under 2% of the budget.

Keys are ``quickbooks:<realmId>`` (``rate_limit_key``); a batch call holds a slot of both policies.
"""

from __future__ import annotations

from providers.ratelimit import LimitPolicy, Window

#: Intuit's minute, plus the transit margin above.
MINUTE = 61.0

QUICKBOOKS = LimitPolicy(name="quickbooks", per_key=(Window(500, MINUTE),), concurrency=10, penalty_seconds=60.0)
QUICKBOOKS_BATCH = LimitPolicy(
    name="quickbooks-batch", per_key=(Window(120, MINUTE), Window(40, MINUTE)), penalty_seconds=60.0
)


def rate_limit_key(realm_id: str) -> str:
    return f"quickbooks:{realm_id}"
