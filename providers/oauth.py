"""OAuth 2.0 authorization code flow for cloud accounting systems (Xero now, QuickBooks Online next).

Built on authlib's httpx client (RFC 6749 client authentication, token parsing and revocation), so no
OAuth wire format is written here. What is ours:

- ``OAuthApp``: one platform's app registration (endpoints, client id and secret, scopes, redirect URI,
  how long its refresh tokens live). Built by each provider from ``config.settings``; nothing in here knows
  a platform.
- ``TokenSet``: access token, refresh token, their expiries and whatever else the token endpoint said
  (``extra``), kept in a connection's encrypted ``credentials`` (``to_credentials`` / ``from_credentials``).
- ``authorization_url``, ``exchange_code``, ``refresh``, ``revoke``: the four calls. Errors are the provider
  hierarchy: ``invalid_grant`` (an expired, revoked or already rotated-away refresh token, a used code) is an
  ``AuthenticationError`` whose message tells a person to reconnect the platform by name; transport
  failures, 5xx and 429 are retryable.
- ``LocalCredentialStore``: the ``CredentialStore`` of a single process (tests, the CLI); the engine's
  database-backed one is ``tasks.engine.credentials``.

Refresh tokens rotate on every use at Xero and QuickBooks, so whoever refreshes must store the new one
before using the new access token: ``CredentialStore.refresh`` does that, the provider only calls it.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import structlog

from config.secrets import Credentials
from providers.errors import AuthenticationError, ProviderError, RetryableError
from providers.http import HttpSettings, parse_retry_after

import authlib.deprecate  # noqa: E402,F401  (installs authlib's own "always" filter before ours below)

with warnings.catch_warnings():  # authlib 1.9 announces its httpx2 move on import; httpx is what we pin
    warnings.simplefilter("ignore")
    from authlib.common.errors import AuthlibBaseError
    from authlib.integrations.httpx_client import OAuth2Client

log = structlog.get_logger(__name__)

#: Refresh this long before the access token expires, so a call never starts with a token about to lapse.
DEFAULT_REFRESH_MARGIN = dt.timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """An app registered with a platform. ``name`` is the platform as a person knows it ("Xero")."""

    name: str
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    redirect_uri: str
    revoke_url: str | None = None
    #: How long an unused refresh token lives (Xero: 60 days), for ``TokenSet.refresh_expires_at``.
    refresh_token_lifetime: dt.timedelta | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    #: Extra headers on token endpoint calls (Intuit answers a refresh token's hard expiry only when asked).
    token_headers: tuple[tuple[str, str], ...] = ()

    def token_request_headers(self) -> dict[str, str] | None:
        """authlib's default token request headers plus ``token_headers`` (None: authlib's own)."""
        if not self.token_headers:
            return None
        return {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
                **dict(self.token_headers)}

    def check_configured(self) -> None:
        if not self.client_id or not self.client_secret:
            raise ProviderError(f"booksync has no {self.name} app configured (client id and secret)")


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None = None
    token_type: str = "Bearer"
    scope: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def is_stale(self, *, margin: dt.timedelta = DEFAULT_REFRESH_MARGIN, now: dt.datetime | None = None) -> bool:
        return (now or dt.datetime.now(dt.UTC)) >= self.expires_at - margin

    def to_credentials(self, **more: Any) -> Credentials:
        """What a connection's encrypted ``credentials`` hold; ``more`` adds the provider's own fields."""
        values: dict[str, Any] = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "refresh_expires_at": self.refresh_expires_at.isoformat() if self.refresh_expires_at else None,
            "token_type": self.token_type,
            "scope": self.scope,
            "extra": dict(self.extra),
        }
        return Credentials({**values, **more})

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any], *, platform: str) -> TokenSet:
        try:
            access = credentials["access_token"]
            expires = dt.datetime.fromisoformat(str(credentials["expires_at"]))
            refresh_expires = credentials.get("refresh_expires_at")
            if not isinstance(access, str) or not access:
                raise ValueError("access_token")
            return cls(
                access_token=access,
                refresh_token=credentials.get("refresh_token") or None,
                expires_at=expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC),
                refresh_expires_at=dt.datetime.fromisoformat(str(refresh_expires)) if refresh_expires else None,
                token_type=str(credentials.get("token_type") or "Bearer"),
                scope=str(credentials.get("scope") or ""),
                extra=dict(credentials.get("extra") or {}),
            )
        except (KeyError, ValueError, TypeError):
            raise AuthenticationError(
                f"the stored {platform} authorization is incomplete; reconnect {platform}"
            ) from None

    @classmethod
    def from_response(cls, answer: Mapping[str, Any], app: OAuthApp, *, now: dt.datetime | None = None) -> TokenSet:
        now = now or dt.datetime.now(dt.UTC)
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderError(f"{app.name}'s token endpoint answered without an access token")
        try:
            lifetime = float(answer.get("expires_in") or 1800)
        except (TypeError, ValueError):
            lifetime = 1800.0
        known = {"access_token", "refresh_token", "expires_in", "expires_at", "token_type", "scope"}
        return cls(
            access_token=access,
            refresh_token=answer.get("refresh_token") or None,
            expires_at=now + dt.timedelta(seconds=lifetime),
            refresh_expires_at=now + app.refresh_token_lifetime if app.refresh_token_lifetime else None,
            token_type=str(answer.get("token_type") or "Bearer"),
            scope=" ".join(answer["scope"]) if isinstance(answer.get("scope"), list) else str(answer.get("scope") or ""),
            extra={k: v for k, v in answer.items() if k not in known and k != "id_token"},
        )


def _client(app: OAuthApp, transport: httpx.BaseTransport | None) -> OAuth2Client:
    def fail_on_status(response: httpx.Response) -> httpx.Response:
        """Before authlib reads the body: 5xx and 429 are worth retrying whatever they say."""
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(
                f"{app.name}'s token endpoint answered HTTP {response.status_code}; try again later",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                details={"status": response.status_code},
            )
        return response

    client = OAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret,
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
        scope=" ".join(app.scopes),
        redirect_uri=app.redirect_uri,
        timeout=app.http.timeout(),
        transport=transport,
        follow_redirects=False,
    )
    client.register_compliance_hook("access_token_response", fail_on_status)
    client.register_compliance_hook("refresh_token_response", fail_on_status)
    return client


def _call(app: OAuthApp, what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except httpx.TransportError as exc:
        raise RetryableError(f"{app.name}'s token endpoint cannot be reached ({type(exc).__name__})") from None
    except AuthlibBaseError as exc:
        error = str(getattr(exc, "error", "") or "")
        log.warning("oauth.refused", oauth_platform=app.name, call=what, error=error)
        if error == "invalid_grant":
            raise AuthenticationError(
                f"{app.name} no longer accepts this connection's authorization (invalid_grant: expired, revoked "
                f"or already used); reconnect {app.name}",
                details={"oauth_error": error},
            ) from None
        if error in ("invalid_client", "unauthorized_client"):
            raise AuthenticationError(
                f"{app.name} refused booksync's app credentials ({error}); check the {app.name} client id and "
                "secret settings",
                details={"oauth_error": error},
            ) from None
        raise ProviderError(f"{app.name} refused the {what} ({error or 'error'})", details={"oauth_error": error}) \
            from None
    except ValueError:
        raise ProviderError(f"{app.name}'s token endpoint answered something that is not a token") from None


def authorization_url(app: OAuthApp, state: str, *, scopes: Sequence[str] | None = None) -> str:
    """Where to send the person who consents; ``state`` comes back with them to the redirect URI."""
    app.check_configured()
    with _client(app, None) as client:
        url, _ = client.create_authorization_url(
            app.authorize_url, state=state, scope=" ".join(scopes if scopes is not None else app.scopes)
        )
    return str(url)


def exchange_code(app: OAuthApp, code: str, *, transport: httpx.BaseTransport | None = None) -> TokenSet:
    """Trade the code the redirect brought for tokens (single use, minutes old at most)."""
    app.check_configured()
    with _client(app, transport) as client:
        answer = _call(app, "authorization code", lambda: client.fetch_token(
            app.token_url, grant_type="authorization_code", code=code, redirect_uri=app.redirect_uri,
            headers=app.token_request_headers(),
        ))
    return TokenSet.from_response(answer, app)


def refresh(app: OAuthApp, token: TokenSet, *, transport: httpx.BaseTransport | None = None) -> TokenSet:
    """A new token set; the refresh token in it replaces the old one (rotation)."""
    app.check_configured()
    if not token.refresh_token:
        raise AuthenticationError(f"the {app.name} authorization has no refresh token; reconnect {app.name}")
    with _client(app, transport) as client:
        answer = _call(app, "refresh token", lambda: client.refresh_token(
            app.token_url, refresh_token=token.refresh_token, headers=app.token_request_headers(),
        ))
    renewed = TokenSet.from_response(answer, app)
    if renewed.refresh_token is None:  # platforms that do not rotate keep the old one
        renewed = TokenSet(**{**_fields(renewed), "refresh_token": token.refresh_token,
                              "refresh_expires_at": token.refresh_expires_at})
    log.info("oauth.refreshed", oauth_platform=app.name)
    return renewed


def revoke(app: OAuthApp, token: TokenSet, *, transport: httpx.BaseTransport | None = None) -> None:
    """Revoke the refresh token (and with it the grant) at the platform's revocation endpoint."""
    if app.revoke_url is None:
        return
    app.check_configured()
    value, hint = (token.refresh_token, "refresh_token") if token.refresh_token else (token.access_token, "access_token")
    with _client(app, transport) as client:
        response = _call(app, "revocation", lambda: client.revoke_token(app.revoke_url, token=value,
                                                                          token_type_hint=hint))
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableError(f"{app.name}'s revocation endpoint answered HTTP {status}; try again later")
    if status >= 400:  # RFC 7009: an unknown or already revoked token is a 200, so this is about the app
        raise ProviderError(f"{app.name}'s revocation endpoint refused the revocation (HTTP {status})")
    log.info("oauth.revoked", oauth_platform=app.name, status=status)


def _fields(token: TokenSet) -> dict[str, Any]:
    return {name: getattr(token, name) for name in TokenSet.__dataclass_fields__}


class LocalCredentialStore:
    """A ``CredentialStore`` for one process: a lock makes one refresher at a time, the latest wins.

    For tests and tools that hold a connection's tokens in memory; the engine uses the database's.
    """

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._lock = threading.Lock()
        self.current = credentials
        self.refreshes = 0

    def refresh(self, stale: Credentials, refresh: Callable[[Credentials], Credentials]) -> Credentials:
        with self._lock:
            if self.current is not None and self.current != stale:
                return self.current
            self.current = refresh(stale)
            self.refreshes += 1
            return self.current


@dataclass(frozen=True, slots=True)
class Tenant:
    """A set of books one consent reached (a Xero organisation, a QuickBooks company)."""

    id: str
    name: str


class OAuthPlatform(Protocol):
    """What an OAuth provider class (``uses_oauth = True``) offers the connect flow, beside the contract."""

    @classmethod
    def oauth_app(cls) -> OAuthApp:
        """booksync's app registration with this platform, from the settings."""
        ...

    @classmethod
    def oauth_tenants(cls, token: TokenSet, callback: Mapping[str, str]) -> list[Tenant]:
        """The books the consent reached, to connect one of. ``callback`` is the rest of the redirect's query
        (QuickBooks names the company there, ``realmId``; Xero asks its connections endpoint instead)."""
        ...

    @classmethod
    def oauth_settings(cls, tenant: Tenant) -> dict[str, Any]:
        """The connection settings that pin the connection to ``tenant``."""
        ...
