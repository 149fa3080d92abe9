"""The ``state`` of an OAuth consent: signed, bound to an organization and a connection, expiring, single use.

``base64url(payload) "." base64url(HMAC-SHA256(payload))``, signed like ``api.pagination``'s tokens with a
key derived from the newest Fernet key (any configured key verifies). The payload holds the organization,
the connection, a random nonce and the issue time. The connection stores only ``sha256(nonce)``
(``oauth_state_hash``); the callback consumes it with one conditional ``UPDATE``, so a state works once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from config import get_settings

VERSION = 1
CLOCK_SKEW_SECONDS = 60
_KEY_INFO = b"booksync:oauth-state:v1"


class StateRefused(ValueError):
    """The state cannot be used; ``message`` says why in words a person understands."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConsentState:
    organization_id: uuid.UUID
    connection_id: uuid.UUID
    nonce: str
    issued_at: int

    @property
    def nonce_hash(self) -> str:
        return nonce_hash(self.nonce)


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _keys() -> list[bytes]:
    return [hmac.new(key, _KEY_INFO, hashlib.sha256).digest() for key in get_settings().fernet_keys()]


def _sign(body: str, key: bytes) -> str:
    return _b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest())


def issue(organization_id: uuid.UUID, connection_id: uuid.UUID) -> tuple[str, ConsentState]:
    state = ConsentState(organization_id, connection_id, secrets.token_urlsafe(24), int(time.time()))
    payload = {"v": VERSION, "o": str(organization_id), "c": str(connection_id), "n": state.nonce,
               "t": state.issued_at}
    body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_sign(body, _keys()[0])}", state


def read(token: str) -> ConsentState:
    """The state's contents once its signature and age are checked; StateRefused otherwise."""
    forged = StateRefused(
        "This link was not issued by booksync, or it was altered on the way. Nothing was changed. "
        "Start the connection again from booksync to get a new link.", reason="forged")
    body, _, signature = (token or "").partition(".")
    if not token.isascii() or not body or not signature or not any(
        hmac.compare_digest(_sign(body, key), signature) for key in _keys()
    ):
        raise forged
    try:
        payload = json.loads(_b64decode(body))
        state = ConsentState(uuid.UUID(payload["o"]), uuid.UUID(payload["c"]), str(payload["n"]), int(payload["t"]))
        if payload["v"] != VERSION:
            raise ValueError("version")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise forged from None
    age = time.time() - state.issued_at
    max_age = get_settings().oauth_state_max_age_seconds
    if age < -CLOCK_SKEW_SECONDS:
        raise forged
    if age > max_age:
        raise StateRefused(
            f"This link has expired (links last {max_age // 60} minutes). Nothing was changed. Ask booksync for "
            f"the connection again (GET /accounting-connections/{state.connection_id}) to get a fresh link.",
            reason="expired")
    return state
