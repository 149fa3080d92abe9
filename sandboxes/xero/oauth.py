"""Xero's OAuth 2.0 authorization code flow, as login.xero.com and identity.xero.com run it.

Following developer.xero.com/documentation/guides/oauth2/auth-flow and the OAuth 2.0 FAQ:

- ``GET /identity/connect/authorize`` shows a consent page listing the organisations; allowing it (the
  page's form, ``POST /identity/connect/authorize``) connects the chosen tenants to the app and redirects
  to ``redirect_uri?code=…&scope=…&state=…``. An unknown client or redirect URI gets an error page,
  never a redirect; an unknown scope is redirected back as ``error=invalid_scope``.
- ``POST /connect/token`` authenticates the app with HTTP Basic (``client_id:client_secret``) and
  exchanges a code (single use, 5 minutes) or a refresh token. Access tokens last 30 minutes; a refresh
  token is issued only with ``offline_access``, expires unused after 60 days, and rotates on every use:
  the one just used stays usable for a 30-minute grace period (in case the answer was lost), after
  which it answers ``{"error": "invalid_grant"}`` like a revoked or expired one.
- ``POST /connect/revocation`` revokes a refresh token and the connections authorised with it.
- ``GET /connections`` lists the tenants connected to the app; ``DELETE /connections/{id}`` removes one.

Tokens are HS256 JWTs with Xero's claim names (``xero_userid``, ``authentication_event_id``,
``scope``, ...), signed with a key of this sandbox; only their SHA-256 is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from sandboxes.xero.store import Store

SCOPES = frozenset({
    "openid", "profile", "email", "offline_access",
    "accounting.transactions", "accounting.transactions.read",
    "accounting.contacts", "accounting.contacts.read",
    "accounting.settings", "accounting.settings.read",
    "accounting.attachments", "accounting.attachments.read",
    "accounting.reports.read", "accounting.journals.read", "accounting.budgets.read",
})
CODE_TTL_MS = 5 * 60 * 1000
REFRESH_TTL_MS = 60 * 24 * 3600 * 1000
GRACE_MS = 30 * 60 * 1000
USER_ID = "5f3c6f0e-3c6a-4d3b-9c36-1d7c1c5b6e01"  # the sandbox's one Xero user


class OAuthError(Exception):
    """An OAuth error answer: ``{"error": code}`` with an HTTP status."""

    def __init__(self, error: str, status: int = 400, description: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error} | ({"error_description": self.description} if self.description else {})


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    client_id: str
    scopes: frozenset[str]
    expired: bool = False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OAuth:
    def __init__(self, store: Store, *, client_id: str, client_secret: str, redirect_uris: list[str] | None,
                 access_ttl_s: float, signing_key: bytes, refresh_grace_s: float = GRACE_MS / 1000) -> None:
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = redirect_uris
        self.access_ttl_ms = int(access_ttl_s * 1000)
        self.grace_ms = int(refresh_grace_s * 1000)
        self.signing_key = signing_key

    # -- authorize ---------------------------------------------------------------------------------

    def check_authorize(self, params: dict[str, str]) -> list[str]:
        """The requested scopes; raises OAuthError for what must be an error page rather than a redirect."""
        if params.get("client_id") != self.client_id:
            raise OAuthError("unauthorized_client", 400, "Unknown client or client not enabled")
        if not self.redirect_allowed(params.get("redirect_uri", "")):
            raise OAuthError("invalid_request", 400, "Invalid redirect_uri")
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", 400)
        return params.get("scope", "").split()

    def redirect_allowed(self, uri: str) -> bool:
        if self.redirect_uris is not None:
            return uri in self.redirect_uris
        parts = urlsplit(uri)
        return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and parts.port is not None

    def consent_page(self, params: dict[str, str], tenants: list[sqlite3.Row]) -> str:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items())
        rows = "".join(
            f'<li><label><input type="checkbox" name="tenant_id" value="{html.escape(t["id"])}" checked> '
            f'{html.escape(t["name"])} ({html.escape(t["country"])}, {html.escape(t["base_currency"])})</label></li>'
            for t in tenants
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Xero | Authorise app</title></head><body>"
            f"<h1>An app wants to connect to your Xero organisations</h1><p>It asks for:</p><ul>{scopes}</ul>"
            f"<form method='post' action='/identity/connect/authorize'>{hidden}<p>Organisations:</p><ul>{rows}</ul>"
            "<button type='submit' name='consent' value='allow'>Allow access</button> "
            "<button type='submit' name='consent' value='deny'>Cancel</button></form></body></html>"
        )

    def consent(self, params: dict[str, str], tenant_ids: list[str], allow: bool, now_ms: int) -> str:
        """The user's answer on the consent page: where to redirect the browser."""
        scopes = self.check_authorize(params)
        redirect = params["redirect_uri"]
        state = {"state": params["state"]} if "state" in params else {}
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown:
            return _with_query(redirect, {"error": "invalid_scope", **state})
        if not allow:
            return _with_query(redirect, {"error": "access_denied", **state})
        known = {row["id"] for row in self.store.tenants()}
        chosen = [tenant for tenant in dict.fromkeys(tenant_ids) if tenant in known]
        grant_id = str(uuid.uuid4())
        code = secrets.token_urlsafe(32)
        with self.store.transaction():
            self.store.execute("INSERT INTO grants VALUES (?, ?, ?, ?, ?, 0)",
                               (grant_id, self.client_id, " ".join(scopes), json.dumps(chosen), now_ms))
            for tenant in chosen:
                self.store.execute(
                    "INSERT INTO connections VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, tenant_id) "
                    "DO UPDATE SET auth_event_id = excluded.auth_event_id, updated_ms = excluded.updated_ms",
                    (str(uuid.uuid4()), self.client_id, tenant, grant_id, now_ms, now_ms))
            self.store.execute("INSERT INTO codes VALUES (?, ?, ?, ?, ?, 0)",
                               (token_hash(code), grant_id, self.client_id, redirect, now_ms + CODE_TTL_MS))
        return _with_query(redirect, {"code": code, "scope": " ".join(scopes), **state,
                                      "session_state": secrets.token_urlsafe(16)})

    # -- token -------------------------------------------------------------------------------------

    def authenticate_client(self, authorization: str | None, form: dict[str, str]) -> None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client") from None
        if client_id != self.client_id or secret is None or not hmac.compare_digest(secret, self.client_secret):
            raise OAuthError("invalid_client")

    def token(self, form: dict[str, str], now_ms: int) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        with self.store.transaction():
            if grant_type == "authorization_code":
                row = self.store.one("SELECT * FROM codes WHERE code_hash = ?", (token_hash(form.get("code", "")),))
                if row is None or row["used"] or row["expires_ms"] < now_ms:
                    raise OAuthError("invalid_grant")
                if row["redirect_uri"] != form.get("redirect_uri"):
                    raise OAuthError("invalid_grant", description="redirect_uri does not match")
                self.store.execute("UPDATE codes SET used = 1 WHERE code_hash = ?", (row["code_hash"],))
                grant_id = str(row["grant_id"])
            elif grant_type == "refresh_token":
                hashed = token_hash(form.get("refresh_token", ""))
                row = self.store.one(
                    "SELECT r.*, g.revoked FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id "
                    "WHERE r.token_hash = ?", (hashed,))
                if (row is None or row["revoked"] or row["expires_ms"] <= now_ms
                        or (row["used_ms"] is not None and now_ms - row["used_ms"] > self.grace_ms)):
                    raise OAuthError("invalid_grant")
                if row["used_ms"] is None:
                    self.store.execute("UPDATE refresh_tokens SET used_ms = ? WHERE token_hash = ?", (now_ms, hashed))
                grant_id = str(row["grant_id"])
            else:
                raise OAuthError("unsupported_grant_type")
            grant = self.store.one("SELECT * FROM grants WHERE id = ?", (grant_id,))
            assert grant is not None
            if grant["revoked"]:
                raise OAuthError("invalid_grant")
            return self._issue(grant, now_ms)

    def _issue(self, grant: sqlite3.Row, now_ms: int) -> dict[str, Any]:
        scopes = str(grant["scopes"]).split()
        claims = {
            "nbf": now_ms // 1000, "exp": (now_ms + self.access_ttl_ms) // 1000, "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources", "client_id": self.client_id, "sub": USER_ID,
            "auth_time": now_ms // 1000, "xero_userid": USER_ID, "global_session_id": grant["id"],
            "jti": secrets.token_hex(16), "authentication_event_id": grant["id"], "scope": scopes,
        }
        access = self._jwt(claims)
        self.store.execute("INSERT INTO access_tokens VALUES (?, ?, ?)",
                           (token_hash(access), grant["id"], now_ms + self.access_ttl_ms))
        answer: dict[str, Any] = {"access_token": access, "expires_in": max(1, round(self.access_ttl_ms / 1000)),
                                  "token_type": "Bearer", "scope": " ".join(scopes)}
        if "openid" in scopes:
            answer["id_token"] = self._jwt({"iss": "https://identity.xero.com", "aud": self.client_id,
                                            "sub": USER_ID, "exp": claims["exp"], "iat": now_ms // 1000,
                                            "xero_userid": USER_ID, "email": "sandbox.user@example.com"})
        if "offline_access" in scopes:
            refresh = secrets.token_urlsafe(32)
            self.store.execute("INSERT INTO refresh_tokens VALUES (?, ?, ?, NULL, ?)",
                               (token_hash(refresh), grant["id"], now_ms, now_ms + REFRESH_TTL_MS))
            answer["refresh_token"] = refresh
        return answer

    def _jwt(self, claims: dict[str, Any]) -> str:
        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()

        signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
        signature = hmac.new(self.signing_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    def revoke(self, token: str) -> None:
        """Revoke a refresh token's grant and the connections it authorised (unknown tokens are ignored)."""
        row = self.store.one("SELECT grant_id FROM refresh_tokens WHERE token_hash = ?", (token_hash(token),))
        if row is not None:
            self.revoke_grants([str(row["grant_id"])])

    def revoke_grants(self, grant_ids: list[str] | None = None) -> int:
        """Revoke grants (all when None): refresh tokens answer invalid_grant, access tokens stop working."""
        with self.store.transaction():
            ids = grant_ids if grant_ids is not None else [
                str(r["id"]) for r in self.store.all("SELECT id FROM grants WHERE revoked = 0")]
            for grant_id in ids:
                self.store.execute("UPDATE grants SET revoked = 1 WHERE id = ?", (grant_id,))
                self.store.execute("DELETE FROM access_tokens WHERE grant_id = ?", (grant_id,))
                self.store.execute("DELETE FROM connections WHERE auth_event_id = ?", (grant_id,))
            return len(ids)

    def expire_tokens(self, kind: str) -> None:
        table = {"access": "access_tokens", "refresh": "refresh_tokens"}[kind]
        self.store.execute(f"UPDATE {table} SET expires_ms = 0")  # noqa: S608 (a fixed table name)

    # -- bearer ------------------------------------------------------------------------------------

    def bearer(self, authorization: str | None, now_ms: int) -> Grant | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        row = self.store.one(
            "SELECT a.expires_ms, g.id, g.client_id, g.scopes, g.revoked FROM access_tokens a "
            "JOIN grants g ON g.id = a.grant_id WHERE a.token_hash = ?", (token_hash(authorization[7:].strip()),))
        if row is None or row["revoked"]:
            return None
        return Grant(str(row["id"]), str(row["client_id"]), frozenset(str(row["scopes"]).split()),
                     expired=row["expires_ms"] <= now_ms)

    def connected(self, grant: Grant, tenant_id: str) -> bool:
        return self.store.one("SELECT 1 FROM connections WHERE client_id = ? AND tenant_id = ?",
                              (grant.client_id, tenant_id.lower())) is not None

    def connections(self, grant: Grant) -> list[dict[str, Any]]:
        rows = self.store.all(
            "SELECT c.*, t.name FROM connections c JOIN tenants t ON t.id = c.tenant_id WHERE c.client_id = ? "
            "ORDER BY c.created_ms, c.id", (grant.client_id,))
        return [{"id": r["id"], "authEventId": r["auth_event_id"], "tenantId": r["tenant_id"],
                 "tenantType": "ORGANISATION", "tenantName": r["name"],
                 "createdDateUtc": _iso(r["created_ms"]), "updatedDateUtc": _iso(r["updated_ms"])} for r in rows]

    def disconnect(self, grant: Grant, connection_id: str) -> bool:
        cursor = self.store.execute("DELETE FROM connections WHERE id = ? AND client_id = ?",
                                    (connection_id.lower(), grant.client_id))
        return cursor.rowcount > 0


def _iso(epoch_ms: int) -> str:
    """Xero's ``createdDateUtc`` (``2019-12-07T18:46:19.5165400``) with the ``Z`` that the definition's
    ``format: date-time`` requires (Xero itself leaves the zone out)."""
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)
