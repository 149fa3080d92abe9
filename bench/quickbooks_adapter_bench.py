"""The QuickBooks adapter against the local QuickBooks: pushes in batches (30 a ``/batch`` call) against one at
a time, and a full pull, with the calls each took.

    python -m bench.quickbooks_adapter_bench [--documents 600] [--page-size 100]

Prints documents a second and calls per document for each, measured in one run (the local QuickBooks
validates every body against Intuit's XSD, in its ``fast`` mode here). Limits are not in the way: the local
QuickBooks runs with its windows 100 times shorter and the adapter without the shared limiter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import tempfile
import time
import uuid
from decimal import Decimal

import httpx
import structlog

from providers.http import NoRateLimit
from providers.oauth import OAuthApp, TokenSet
from providers.quickbooks import QuickBooksProvider
from providers.quickbooks import app as qb_app
from providers.types import DocumentKind, LineItem, OutgoingDocument, PushRequest
from sandboxes.quickbooks.consent import connect
from sandboxes.quickbooks.sandbox import SandboxInfo, start_sandbox, stop_sandbox


def provider(info: SandboxInfo, realm: str, page_size: int) -> QuickBooksProvider:
    app = OAuthApp(name=qb_app.NAME, authorize_url=info.authorization_endpoint, token_url=info.token_endpoint,
                   revoke_url=info.revocation_endpoint, client_id=info.client_id, client_secret=info.client_secret,
                   scopes=qb_app.SCOPES, redirect_uri="http://127.0.0.1:9/quickbooks/callback")
    token = qb_app.with_expiries(TokenSet.from_response(connect(info, realm), app))
    return QuickBooksProvider({"realm_id": realm}, token.to_credentials(), app=app, api_url=info.url,
                              rate_limiter=NoRateLimit(), batch_rate_limiter=NoRateLimit(), page_size=page_size)


def bills(vendor: str, count: int) -> list[PushRequest[OutgoingDocument]]:
    return [PushRequest(OutgoingDocument(
        kind=DocumentKind.PAYABLE, id=str(uuid.uuid4()), counterpart_platform_id=vendor, currency="USD",
        document_number=f"BB-{n:06d}", issue_date=dt.date.today(),
        lines=(LineItem("bench", Decimal(1 + n % 3), 1_000 + n, tax_rate_value=2000),)), uuid.uuid4().hex)
        for n in range(count)]


def calls(info: SandboxInfo, realm: str) -> int:
    return int(httpx.get(f"{info.url}/_sandbox/stats", timeout=10).json()["calls"].get(realm, 0))


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        info = start_sandbox(directory, time_scale=100.0, validation="fast")
        try:
            for mode in ("batch", "single"):
                created = httpx.post(f"{info.url}/_sandbox/companies", timeout=30,
                                     json={"name": f"Bench {mode}", "country": "GB", "currency": "USD"}).json()
                realm, vendor = created["realm_id"], created["seeded"]["vendors"][0]
                with provider(info, realm, args.page_size) as adapter:
                    adapter.check()
                    requests = bills(str(vendor), args.documents)
                    before, started = calls(info, realm), time.perf_counter()
                    if mode == "batch":
                        outcomes = list(adapter.push_documents(requests))
                    else:
                        outcomes = [o for r in requests for o in adapter.push_documents([r])]
                    seconds = time.perf_counter() - started
                    assert all(o.result is not None for o in outcomes), [o.error for o in outcomes if o.error][:3]
                    used = calls(info, realm) - before
                    print(f"push {mode:>6}: {args.documents / seconds:7.1f} bills/s, {used / args.documents:.3f} "
                          f"calls per bill ({used} calls)")
                    if mode == "batch":
                        before, started = calls(info, realm), time.perf_counter()
                        pulled = sum(len(page.items) for page in adapter.iter_documents(DocumentKind.PAYABLE, None))
                        seconds = time.perf_counter() - started
                        used = calls(info, realm) - before
                        print(f"pull       : {pulled / seconds:7.1f} bills/s, {used} calls for {pulled} bills "
                              f"(pages of {args.page_size})")
        finally:
            stop_sandbox(directory)


if __name__ == "__main__":
    main()
