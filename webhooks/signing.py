"""Signing secrets and the signature every delivery carries.

The scheme is Stripe's (docs.stripe.com/webhooks/signatures), so receivers can reuse what they know:
``Booksync-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``, where the HMAC, keyed with the
subscription's secret, is over ``"<t>.<raw body>"``. Signing the timestamp with the body lets a
receiver refuse replays (booksync suggests five minutes' tolerance). While a rotated secret's grace
period runs, the header carries one ``v1`` per valid secret, newest first; a receiver accepts the
request if any of them matches the secret it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Booksync-Signature"
SECRET_PREFIX = "whsec_"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """A signing secret: 32 random bytes, URL-safe, with a prefix that says what it is."""
    return SECRET_PREFIX + _random.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Sequence[str], timestamp: int | None = None) -> str:
    """The header value for ``body``, signed with each of ``secrets`` (newest first)."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    when = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={when}", *(f"{SCHEME}={signature(secret, when, body)}" for secret in secrets)])


def verify(
    body: bytes, header: str, secret: str, *, tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """What a receiver checks: a ``v1`` made with ``secret`` over this body and timestamp, and a timestamp
    within ``tolerance`` seconds of ``now``."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in parts if key.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, value.strip()) for key, value in parts if key.strip() == SCHEME)
