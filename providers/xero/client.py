"""HTTP to Xero's Accounting API: tenant header, bearer token, exact JSON numbers, errors, limit headers.

Following developer.xero.com/documentation/guides/oauth2/limits and .../api/accounting/responsecodes:

- every call carries ``Authorization: Bearer`` and ``xero-tenant-id``; a 401 means the access token lapsed
  (or was revoked): the client refreshes once (through the connection's credential store) and repeats the
  call, which is safe because Xero refused it before doing anything;
- 429 carries ``Retry-After`` and ``X-Rate-Limit-Problem`` (``minute``, ``day``, ``concurrent``,
  ``appminute``); every answer carries ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and
  ``X-AppMinLimit-Remaining``, kept in ``remaining`` (the connection shows them) and handed to the rate
  limiter's ``observe`` where it has one;
- 400 ``ValidationException`` names what was refused in ``Elements[].ValidationErrors``; 404 is an
  unknown object; 403 a tenant no longer connected to the app; 5xx worth retrying.

Bodies are sent with amounts as exact JSON numbers (``Decimal`` in, the same digits out) and read with
``parse_float=Decimal``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel

from providers.errors import AuthenticationError, DataError, NotFoundError, ProviderError, RetryableError
from providers.http import LOG_FIELDS, parse_retry_after, transport_error
from providers.xero import models

log = structlog.get_logger(__name__)

PROVIDER = "Xero"
LIMIT_HEADERS = {
    "X-MinLimit-Remaining": "minute_remaining",
    "X-DayLimit-Remaining": "day_remaining",
    "X-AppMinLimit-Remaining": "app_minute_remaining",
}
M = TypeVar("M", bound=BaseModel)

_DECIMAL_MARK = "\u0000decimal:"
_DECIMAL_TOKEN = re.compile(r'"\\u0000decimal:(-?[0-9.]+(?:E[+-]?[0-9]+)?)"')


def dumps(body: Any) -> bytes:
    """JSON with every ``Decimal`` as the number it is (``json`` would refuse it; a float would round it)."""

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{value} is not an amount")
            return f"{_DECIMAL_MARK}{value:f}"
        raise TypeError(f"cannot send {type(value).__name__} to Xero")

    text = json.dumps(body, default=default, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    return _DECIMAL_TOKEN.sub(lambda match: match.group(1), text).encode()


def loads(content: bytes, *, what: str) -> Any:
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        raise ProviderError(f"Xero's answer to {what} is not JSON", details={"answer": what}) from None


class XeroClient:
    """One tenant's Accounting API over an ``httpx.Client`` built by ``providers.http.build_client``.

    ``access_token`` returns the token to use; ``renew`` is called after a 401 and returns a new one.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        tenant_id: str,
        access_token: Callable[[], str],
        renew: Callable[[], str],
    ) -> None:
        self.http = http
        self.tenant_id = tenant_id
        self._access_token = access_token
        self._renew = renew
        #: The last limit headers Xero sent: ``{"minute_remaining": 59, "day_remaining": 4990, ...}``.
        self.remaining: dict[str, int] = {}

    def call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        tenant: bool = True,
        not_found: Callable[[], ProviderError] | None = None,
    ) -> Any:
        """The decoded JSON answer (``None`` for an empty one); raises the provider error hierarchy."""
        content = dumps(body) if body is not None else None
        token = self._access_token()
        for attempt in (1, 2):
            response = self._send(method, url, token, params=params, content=content, headers=headers,
                                  tenant=tenant, what=what)
            if response.status_code == 401 and attempt == 1:
                log.info("xero.token_refused", what=what)
                token = self._renew()
                continue
            break
        self._observe(response)
        status = response.status_code
        if status < 300:
            return loads(response.content, what=what) if response.content else None
        raise self._error(response, what=what, not_found=not_found)

    def get(self, path: str, *, what: str, model: type[M], params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None,
            not_found: Callable[[], ProviderError] | None = None) -> M:
        return models.parse(model, self.call("GET", path, what=what, params=params, headers=headers,
                                             not_found=not_found), what=what)

    # -- internals ----------------------------------------------------------------------------------

    def _send(self, method: str, url: str, token: str, *, params: Mapping[str, Any] | None, content: bytes | None,
              headers: Mapping[str, str] | None, tenant: bool, what: str) -> httpx.Response:
        sent = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
        if tenant:
            sent["xero-tenant-id"] = self.tenant_id
        if content is not None:
            sent["Content-Type"] = "application/json"
        try:
            return self.http.request(
                method, url, params=params, content=content, headers=sent,
                extensions={LOG_FIELDS: {"call": what}},
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, provider=PROVIDER) from exc

    def _observe(self, response: httpx.Response) -> None:
        for header, name in LIMIT_HEADERS.items():
            value = response.headers.get(header)
            if value is not None and value.strip().lstrip("-").isdigit():
                self.remaining[name] = int(value)

    def _error(self, response: httpx.Response, *, what: str,
               not_found: Callable[[], ProviderError] | None) -> ProviderError:
        status = response.status_code
        details: dict[str, Any] = {"status": status}
        if status == 429:
            problem = response.headers.get("X-Rate-Limit-Problem")
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RetryableError(
                f"Xero is rate limiting this organisation ({problem or 'limit'} limit reached)",
                retry_after=retry_after, details={**details, "problem": problem},
            )
        if status >= 500 or status in (408, 425):
            return RetryableError(f"Xero answered HTTP {status} to {what}; try again later",
                                  retry_after=parse_retry_after(response.headers.get("Retry-After")), details=details)
        if status == 401:
            return AuthenticationError("Xero refused the connection's access token (HTTP 401); reconnect Xero",
                                       details=details)
        if status == 403:
            return AuthenticationError(
                "Xero denied access to this organisation (HTTP 403): it was disconnected from booksync's app or "
                "the consent lacks a scope; reconnect Xero", details=details)
        if status == 404:
            return not_found() if not_found else NotFoundError(f"Xero has no such object ({what})", details=details)
        messages = self._messages(response)
        text = "; ".join(messages[:5]) or f"HTTP {status}"
        return DataError(f"Xero refused {what}: {text}", details={**details, "messages": messages[:20]})

    @staticmethod
    def _messages(response: httpx.Response) -> list[str]:
        try:
            body = models.ErrorBody.model_validate(json.loads(response.content))
        except (ValueError, TypeError):
            return []
        return body.messages()
