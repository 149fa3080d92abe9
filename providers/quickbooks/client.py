"""HTTP to one company's QuickBooks Online Accounting API (v3, JSON): bearer token, ``minorversion``, exact
numbers, ``requestid``, Faults onto the error hierarchy, the batch endpoint and its own limit.

Following Intuit's "Accounting API" reference and its pages on minor versions, batch, query and errors:

- every call is ``/v3/company/<realmId>/<entity|query|batch|cdc>?minorversion=75``; Intuit serves 75 to anyone
  naming an older one since August 2025, so it is set here, once (``MINOR_VERSION``);
- ``Accept: application/json``; bodies are JSON (``Content-Type: application/json``) with amounts as exact
  numbers (``Decimal`` in, the same digits out), answers are read with ``parse_float=Decimal``; queries go as
  ``POST /query`` with ``Content-Type: application/text`` (no URL length to mind);
- writes carry ``requestid`` (50 characters at most, 36 on ``/batch``): a request sent again with the same one
  is answered as the first one was, without being done twice;
- a 401 means the access token lapsed or was revoked: the client renews it once (through the connection's
  credential store) and sends the call again, which is safe because Intuit refused it before doing anything;
- 429 (``ThrottleExceeded``, 003001) is retryable after ``Retry-After`` (Intuit: 60 s; the HTTP layer's
  limiter holds the realm back that long); 5xx retryable; 403 an ``AuthenticationError``;
- a 400 carries ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type": "ValidationFault"}}``:
  5010 (stale ``SyncToken``) is ``StaleObject``, 610 on a read is "not found", anything else a ``DataError``
  whose ``field`` is the Fault's ``element`` (the adapter names it in booksync's terms).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx
import structlog

from providers.errors import AuthenticationError, DataError, NotFoundError, ProviderError, RetryableError
from providers.http import LOG_FIELDS, RATE_LIMITER, RateLimiter, parse_retry_after, transport_error
from providers.quickbooks import models

log = structlog.get_logger(__name__)

PROVIDER = "QuickBooks Online"
MINOR_VERSION = 75
#: Intuit asks for a minute's pause after a 429 that says nothing more.
THROTTLE_PAUSE_SECONDS = 60.0
STALE_OBJECT = "5010"
OBJECT_NOT_FOUND = "610"

_DECIMAL_MARK = "\u0000decimal:"
_DECIMAL_TOKEN = re.compile(r'"\\u0000decimal:(-?[0-9.]+(?:E[+-]?[0-9]+)?)"')


class StaleObject(DataError):
    """QuickBooks holds a newer version than the ``SyncToken`` sent (Fault 5010)."""


def dumps(body: Any) -> bytes:
    """JSON with every ``Decimal`` as the number it is (``json`` would refuse it; a float could round it)."""

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{value} is not an amount")
            return f"{_DECIMAL_MARK}{value:f}"
        if isinstance(value, dt.date):
            return value.isoformat()
        raise TypeError(f"cannot send {type(value).__name__} to QuickBooks Online")

    text = json.dumps(body, default=default, separators=(",", ":"), ensure_ascii=True)
    return _DECIMAL_TOKEN.sub(lambda match: match.group(1), text).encode()


def loads(content: bytes, *, what: str) -> Any:
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        raise ProviderError(f"QuickBooks Online's answer to {what} is not JSON", details={"answer": what}) from None


def quote(value: str) -> str:
    """A string literal of Intuit's query language: single quotes, a quote inside escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksClient:
    """One realm's Accounting API over an ``httpx.Client`` built by ``providers.http.build_client``.

    ``access_token`` returns the token to use; ``renew`` is called after a 401 and returns a new one.
    ``batch_limiter`` is what a ``/batch`` call holds instead of the client's limiter (the realm's and the batch
    endpoint's slots together).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        realm_id: str,
        access_token: Callable[[], str],
        renew: Callable[[], str],
        batch_limiter: RateLimiter | None = None,
    ) -> None:
        self.http = http
        self.realm_id = realm_id
        self._access_token = access_token
        self._renew = renew
        self._batch_limiter = batch_limiter
        #: The ``time`` of QuickBooks' latest answer: the server's clock, which CDC windows are measured on.
        self.server_time: dt.datetime | None = None

    @property
    def base(self) -> str:
        return f"/v3/company/{self.realm_id}"

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        text: str | None = None,
        batch: bool = False,
        not_found: Callable[[], ProviderError] | None = None,
    ) -> Any:
        """The decoded JSON answer of a call under ``/v3/company/<realm>``; raises the provider error hierarchy."""
        content = dumps(body) if body is not None else (text.encode() if text is not None else None)
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        elif text is not None:
            headers["Content-Type"] = "application/text"
        query = {"minorversion": MINOR_VERSION, **(params or {})}
        extensions: dict[str, Any] = {LOG_FIELDS: {"call": what}}
        if batch and self._batch_limiter is not None:
            extensions[RATE_LIMITER] = self._batch_limiter
        token = self._access_token()
        for attempt in (1, 2):
            try:
                response = self.http.request(
                    method, f"{self.base}{path}", params=query, content=content,
                    headers={**headers, "Authorization": f"Bearer {token}"}, extensions=extensions,
                )
            except httpx.TransportError as exc:
                raise transport_error(exc, provider=PROVIDER) from exc
            if response.status_code == 401 and attempt == 1:
                log.info("quickbooks.token_refused", call=what)
                token = self._renew()
                continue
            break
        answer = loads(response.content, what=what) if response.content else None
        self._note_time(answer)
        if response.status_code < 300:
            return answer
        raise self._error(response, answer, what=what, not_found=not_found)

    def query(self, statement: str, *, what: str) -> dict[str, Any]:
        """The ``QueryResponse`` of one statement of Intuit's query language (``{}`` when nothing matched)."""
        answer = self.call("POST", "/query", what=what, text=statement)
        response = models.member(answer, "QueryResponse", what=what)
        if response is None:
            raise ProviderError(f"QuickBooks Online's answer to {what} has no QueryResponse", details={"answer": what})
        if not isinstance(response, dict):
            raise ProviderError(f"QuickBooks Online's answer to {what} has a QueryResponse that is not an object",
                                details={"answer": what})
        return response

    def _note_time(self, answer: Any) -> None:
        stamp = answer.get("time") if isinstance(answer, dict) else None
        if isinstance(stamp, str):
            try:
                self.server_time = models.parse_time(stamp)
            except ValueError:
                pass

    def _error(self, response: httpx.Response, answer: Any, *, what: str,
               not_found: Callable[[], ProviderError] | None) -> ProviderError:
        status = response.status_code
        details: dict[str, Any] = {"status": status}
        fault = fault_of(answer)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After")) or THROTTLE_PAUSE_SECONDS
            return RetryableError(f"QuickBooks Online is throttling calls to this company (HTTP 429, ThrottleExceeded) "
                                  f"during {what}", retry_after=retry_after, details=details)
        if status >= 500 or status in (408, 425):
            return RetryableError(f"QuickBooks Online answered HTTP {status} to {what}; try again later",
                                  retry_after=parse_retry_after(response.headers.get("Retry-After")), details=details)
        if status == 401:
            return AuthenticationError(
                "QuickBooks Online refused the connection's access token (HTTP 401) even after a refresh; reconnect "
                "QuickBooks Online", details=details)
        if status == 403:
            return AuthenticationError(
                f"QuickBooks Online denied access to this company (HTTP 403{': ' + fault_text(fault) if fault else ''}); "
                "the user who connected it may have lost access or the subscription lapsed: reconnect QuickBooks "
                "Online", details=details)
        if fault is None:
            return DataError(f"QuickBooks Online refused {what} (HTTP {status})", details=details)
        return fault_error(fault, what=what, not_found=not_found, details=details)


def fault_of(answer: Any) -> models.Fault | None:
    """The Fault of an answer (or of one batch item), if it is one and well formed."""
    raw = answer.get("Fault") if isinstance(answer, dict) else None
    if not isinstance(raw, dict):
        return None
    try:
        return models.Fault.model_validate(raw)
    except ValueError:
        return None


def fault_text(fault: models.Fault) -> str:
    parts = []
    for error in fault.Error[:5]:
        text = error.Message or "error"
        if error.Detail and error.Detail != error.Message:
            text += f": {error.Detail}"
        parts.append(f"{text} ({error.code})" if error.code else text)
    return "; ".join(parts) or (fault.type or "Fault")


def fault_error(fault: models.Fault, *, what: str, not_found: Callable[[], ProviderError] | None = None,
                details: dict[str, Any] | None = None) -> ProviderError:
    """The error a ``Fault`` stands for."""
    first = fault.Error[0] if fault.Error else models.FaultError()
    codes = [error.code for error in fault.Error]
    extra = {**(details or {}), "fault": fault.type, "codes": codes}
    if fault.type and fault.type.upper() == "AUTHENTICATION":
        return AuthenticationError(f"QuickBooks Online refused the connection's authorization during {what}; "
                                   "reconnect QuickBooks Online", details=extra)
    if (fault.type or "").lower() in ("systemfault", "service"):
        return RetryableError(f"QuickBooks Online failed {what}: {fault_text(fault)}; try again later", details=extra)
    if STALE_OBJECT in codes:
        return StaleObject(f"QuickBooks Online holds a newer version than the one {what} was based on "
                           f"({fault_text(fault)})", field="SyncToken", details=extra)
    if OBJECT_NOT_FOUND in codes and not_found is not None:
        return not_found()
    return DataError(f"QuickBooks Online refused {what}: {fault_text(fault)}", field=first.element or None,
                     details=extra)
