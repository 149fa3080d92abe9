"""Intuit's OAuth 2.0 authorization-code flow, as appcenter.intuit.com, oauth.platform.intuit.com and
developer.api.intuit.com serve it (Intuit's "OAuth 2.0" and "FAQ" pages, and its 2025 refresh-token policy).

- ``GET /connect/oauth2?client_id&response_type=code&scope=com.intuit.quickbooks.accounting&redirect_uri&state``
  shows a consent page listing the companies; its form posts to ``/connect/oauth2/consent``, which redirects
  (302) to ``redirect_uri?code=...&state=...&realmId=...`` (or ``error=access_denied``).
- ``POST /oauth2/v1/tokens/bearer`` with HTTP Basic client authentication: ``authorization_code`` (a code is
  good once, with the same ``redirect_uri``, for 5 minutes: the sandbox's reading of "short-lived") and
  ``refresh_token`` grants. The answer carries
  ``expires_in`` (3600 s) and ``x_refresh_token_expires_in`` (the rolling 100 days, never past the hard cap);
  with the request header ``x-include-refresh-token-hard-expires-in: true`` it also carries
  ``x_refresh_token_hard_expires_in``, the seconds left of the grant's five-year maximum (Intuit, Nov 2025).
- Refresh tokens rotate: every refresh answers a new one and the one used is spent. A spent, expired or
  revoked refresh token, or a grant past its hard cap, answers ``400 {"error": "invalid_grant"}``.
- ``POST /v2/oauth2/tokens/revoke`` (Basic auth, JSON ``{"token": ...}``, an access or refresh token) revokes
  the whole grant, as disconnecting the app does.

Tokens are random 64-character strings; only their SHA-256 digests are stored.
"""

from __future__ import annotations

import base64
import html
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from sandboxes.quickbooks.store import Store, digest

SCOPE_ACCOUNTING = "com.intuit.quickbooks.accounting"
KNOWN_SCOPES = {SCOPE_ACCOUNTING, "com.intuit.quickbooks.payment", "openid", "profile", "email", "phone", "address"}
CODE_LIFETIME = 300.0
REFRESH_WINDOW = 100 * 86400.0
HARD_CAP = 5 * 365 * 86400.0
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(description or error)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error} if not self.description else {"error": self.error, "error_description": self.description}


@dataclass(frozen=True, slots=True)
class AppCredentials:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    """Exact redirect URIs allowed besides the loopback default (any http://127.0.0.1:* or http://localhost:*)."""

    def allows(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        parts = urlsplit(redirect_uri)
        return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and not parts.fragment


@dataclass(frozen=True, slots=True)
class AccessGrant:
    grant_id: str
    realm_id: str
    client_id: str


class OAuthServer:
    def __init__(self, store: Store, app: AppCredentials, *, access_lifetime: float = 3600.0,
                 refresh_window: float = REFRESH_WINDOW, hard_cap: float = HARD_CAP) -> None:
        self.store = store
        self.app = app
        self.access_lifetime = access_lifetime
        self.refresh_window = refresh_window
        self.hard_cap = hard_cap

    # -- consent ------------------------------------------------------------------------------------

    def check_authorize(self, params: dict[str, str]) -> None:
        if params.get("client_id") != self.app.client_id:
            raise OAuthError(400, "invalid_client", "unknown client_id")
        if params.get("response_type") != "code":
            raise OAuthError(400, "unsupported_response_type", "response_type must be code")
        scopes = set((params.get("scope") or "").split())
        if not scopes or not scopes <= KNOWN_SCOPES:
            raise OAuthError(400, "invalid_scope", f"unknown scope in {params.get('scope')!r}")
        if SCOPE_ACCOUNTING not in scopes:
            raise OAuthError(400, "invalid_scope", f"{SCOPE_ACCOUNTING} is required to use the Accounting API")
        if not self.app.allows(params.get("redirect_uri") or ""):
            raise OAuthError(400, "invalid_request", "redirect_uri is not registered for this app")
        if not params.get("state"):
            raise OAuthError(400, "invalid_request", "state is required")

    def consent_page(self, params: dict[str, str], companies: list[tuple[str, dict[str, Any]]]) -> str:
        self.check_authorize(params)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(params.get(key, ""))}">'
            for key in ("client_id", "redirect_uri", "scope", "state")
        )
        options = "".join(
            f'<li><label><input type="radio" name="realm_id" value="{html.escape(realm)}"{" checked" if i == 0 else ""}> '
            f'{html.escape(settings["name"])} ({html.escape(settings["country"])}, realm {html.escape(realm)})</label></li>'
            for i, (realm, settings) in enumerate(companies)
        )
        return (
            "<!doctype html><html><head><title>Connect to QuickBooks (sandbox)</title></head><body>"
            "<h1>Connect your QuickBooks company</h1>"
            f"<p>An app wants access to your books ({html.escape(params.get('scope', ''))}).</p>"
            f'<form method="post" action="/connect/oauth2/consent">{hidden}<ul id="companies">{options}</ul>'
            '<button type="submit" name="action" value="allow">Connect</button> '
            '<button type="submit" name="action" value="deny">Cancel</button></form></body></html>'
        )

    def consent(self, form: dict[str, str], now: float) -> str:
        """The redirect a consent answers with: a code for the chosen company, or access_denied."""
        self.check_authorize({**form, "response_type": "code"})
        redirect = form["redirect_uri"]
        separator = "&" if urlsplit(redirect).query else "?"
        if form.get("action") != "allow":
            return redirect + separator + urlencode({"error": "access_denied", "state": form["state"]})
        realm = form.get("realm_id") or ""
        if self.store.company(realm) is None:
            raise OAuthError(400, "invalid_request", "choose one of the listed companies")
        code = secrets.token_urlsafe(24)
        self.store.db.execute(
            "INSERT INTO oauth_codes (digest, client_id, realm_id, redirect_uri, scope, expires_ts) VALUES (?, ?, ?, ?, ?, ?)",
            (digest(code), self.app.client_id, realm, redirect, form["scope"], now + CODE_LIFETIME),
        )
        return redirect + separator + urlencode({"code": code, "state": form["state"], "realmId": realm})

    # -- tokens -------------------------------------------------------------------------------------

    def authenticate_client(self, authorization: str | None) -> None:
        """HTTP Basic ``client_id:client_secret`` (Intuit's token and revoke endpoints take only this)."""
        if not authorization or not authorization.lower().startswith("basic "):
            raise OAuthError(401, "invalid_client")
        try:
            client_id, _, secret = base64.b64decode(authorization.split(None, 1)[1]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client") from None
        if client_id != self.app.client_id or not secrets.compare_digest(secret, self.app.client_secret):
            raise OAuthError(401, "invalid_client")

    def token(self, form: dict[str, str], now: float, *, include_hard_expiry: bool) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        with self.store.transaction():
            if grant_type == "authorization_code":
                grant = self._redeem_code(form, now)
            elif grant_type == "refresh_token":
                grant = self._spend_refresh(form.get("refresh_token") or "", now)
            else:
                raise OAuthError(400, "unsupported_grant_type")
            return self._issue(grant, now, include_hard_expiry)

    def _redeem_code(self, form: dict[str, str], now: float) -> dict[str, Any]:
        row = self.store.db.execute("SELECT * FROM oauth_codes WHERE digest = ?", (digest(form.get("code") or ""),)).fetchone()
        if row is None or row["used"] or row["expires_ts"] < now or row["redirect_uri"] != form.get("redirect_uri"):
            raise OAuthError(400, "invalid_grant")
        self.store.db.execute("UPDATE oauth_codes SET used = 1 WHERE digest = ?", (row["digest"],))
        grant_id = uuid.uuid4().hex
        self.store.db.execute(
            "INSERT INTO oauth_grants (grant_id, client_id, realm_id, scope, created_ts, hard_expires_ts) VALUES (?, ?, ?, ?, ?, ?)",
            (grant_id, row["client_id"], row["realm_id"], row["scope"], now, now + self.hard_cap),
        )
        return dict(self.store.db.execute("SELECT * FROM oauth_grants WHERE grant_id = ?", (grant_id,)).fetchone())

    def _spend_refresh(self, refresh_token: str, now: float) -> dict[str, Any]:
        row = self.store.db.execute(
            "SELECT t.digest, t.expires_ts, t.state, g.* FROM oauth_tokens t JOIN oauth_grants g USING (grant_id) "
            "WHERE t.digest = ? AND t.kind = 'refresh'", (digest(refresh_token),)
        ).fetchone()
        if row is None or row["state"] != "active" or row["expires_ts"] <= now or row["revoked"] or row["hard_expires_ts"] <= now:
            raise OAuthError(400, "invalid_grant")
        self.store.db.execute("UPDATE oauth_tokens SET state = 'used' WHERE digest = ?", (row["digest"],))
        return {key: row[key] for key in ("grant_id", "client_id", "realm_id", "scope", "created_ts", "hard_expires_ts")}

    def _issue(self, grant: dict[str, Any], now: float, include_hard_expiry: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(48)
        refresh = secrets.token_urlsafe(48)
        hard_left = grant["hard_expires_ts"] - now
        refresh_left = min(self.refresh_window, hard_left)
        self.store.db.executemany(
            "INSERT INTO oauth_tokens (digest, grant_id, kind, issued_ts, expires_ts) VALUES (?, ?, ?, ?, ?)",
            [(digest(access), grant["grant_id"], "access", now, now + self.access_lifetime),
             (digest(refresh), grant["grant_id"], "refresh", now, now + refresh_left)],
        )
        answer: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": int(self.access_lifetime),
            "x_refresh_token_expires_in": int(refresh_left),
        }
        if include_hard_expiry:
            answer["x_refresh_token_hard_expires_in"] = int(hard_left)
        return answer

    def revoke(self, token: str) -> None:
        row = self.store.db.execute("SELECT grant_id FROM oauth_tokens WHERE digest = ?", (digest(token),)).fetchone()
        if row is None:
            raise OAuthError(400, "invalid_request", "unknown token")
        with self.store.transaction():
            self.store.db.execute("UPDATE oauth_grants SET revoked = 1 WHERE grant_id = ?", (row["grant_id"],))
            self.store.db.execute("UPDATE oauth_tokens SET state = 'revoked' WHERE grant_id = ? AND state = 'active'",
                                  (row["grant_id"],))

    def bearer(self, authorization: str | None, now: float) -> AccessGrant:
        """The grant an API call's ``Authorization: Bearer`` token belongs to, or a reason it is refused."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise OAuthError(401, "missing_token", "no Bearer token")
        token = authorization.split(None, 1)[1].strip()
        row = self.store.db.execute(
            "SELECT t.expires_ts, t.state, g.grant_id, g.realm_id, g.client_id, g.revoked FROM oauth_tokens t "
            "JOIN oauth_grants g USING (grant_id) WHERE t.digest = ? AND t.kind = 'access'", (digest(token),)
        ).fetchone()
        if row is None:
            raise OAuthError(401, "invalid_token", "Token invalid")
        if row["revoked"] or row["state"] == "revoked":
            raise OAuthError(401, "invalid_token", "Token revoked")
        if row["expires_ts"] <= now:
            raise OAuthError(401, "invalid_token", "Token expired")
        return AccessGrant(row["grant_id"], row["realm_id"], row["client_id"])

    # -- fault switches -------------------------------------------------------------------------------

    def expire_access_tokens(self, now: float, realm_id: str | None = None) -> int:
        return self._expire("access", now, realm_id)

    def expire_refresh_tokens(self, now: float, realm_id: str | None = None) -> int:
        return self._expire("refresh", now, realm_id)

    def _expire(self, kind: str, now: float, realm_id: str | None) -> int:
        cursor = self.store.db.execute(
            "UPDATE oauth_tokens SET expires_ts = ? WHERE kind = ? AND state = 'active' AND expires_ts > ? AND grant_id IN "
            "(SELECT grant_id FROM oauth_grants WHERE ? IS NULL OR realm_id = ?)",
            (now, kind, now, realm_id, realm_id),
        )
        return cursor.rowcount

    def revoke_grants(self, realm_id: str | None = None) -> int:
        cursor = self.store.db.execute(
            "UPDATE oauth_grants SET revoked = 1 WHERE revoked = 0 AND (? IS NULL OR realm_id = ?)", (realm_id, realm_id)
        )
        return cursor.rowcount
