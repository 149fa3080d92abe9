"""Xero's API limits as data (developer.xero.com/documentation/guides/oauth2/limits).

Per tenant: 60 calls a minute, 5 in flight, 5,000 a day; per app: 10,000 calls a minute across all
tenants. A 429 names the limit in ``X-Rate-Limit-Problem`` (``minute``, ``day``, ``concurrent``,
``appminute``) and says when to come back in ``Retry-After``; every answer reports what is left in
``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``.

The adapter enforces them through the shared limiter (``providers.ratelimit``: one budget in Redis
for every worker) under the key ``xero:<tenantId>``.
"""

from __future__ import annotations

from providers.ratelimit import SKEW_SECONDS, LimitPolicy, Window

XERO_LIMITS = LimitPolicy(
    name="xero",
    per_key=(Window(60, 60), Window(5000, 86_400)),
    concurrency=5,
    app_wide=(Window(10_000, 60),),
    problem_header="X-Rate-Limit-Problem",
    app_wide_problems=frozenset({"appminute"}),
    penalty_seconds=1.0,  # the 429s without Retry-After are the concurrent limit's
    skew_seconds=SKEW_SECONDS,  # 59 a minute: Xero counts a call when it arrives
    reported_headers=(
        ("X-DayLimit-Remaining", "day_remaining"),
        ("X-MinLimit-Remaining", "minute_remaining"),
        ("X-AppMinLimit-Remaining", "app_minute_remaining"),
    ),
)


def rate_limit_key(tenant_id: str) -> str:
    return f"xero:{tenant_id}"
