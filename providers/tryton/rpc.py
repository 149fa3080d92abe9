"""Tryton's JSON-RPC over httpx: session login, tagged values, and errors mapped to the hierarchy.

Tryton answers business errors with HTTP 200 and ``{"error": [kind, args]}``; authentication and
protocol errors with 401/403/422/429 and an HTML body (so the status is checked before any JSON is
parsed). A 401 on a model call means the session expired (or, for buttons such as ``post`` that
want a fresh session, went idle): the client logs in again once and repeats the call, which is
safe because Tryton rejects the call before running it.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import structlog

from config.secrets import Credentials
from providers.errors import AuthenticationError, DataError, MalformedAnswer, ProviderError, RetryableError
from providers.http import LOG_FIELDS, error_for_status, transport_error

log = structlog.get_logger(__name__)

PROVIDER = "Tryton"


class TrytonUserWarning(DataError):
    """A Tryton ``UserWarning``: the call stops until the warning ``name`` is acknowledged."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message, details={"warning": name})
        self.name = name


def encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            **{f: getattr(value, f) for f in ("year", "month", "day", "hour", "minute", "second", "microsecond")},
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def decode(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"], obj["second"], obj["microsecond"]
        )
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    return obj


def error_from_payload(error: Any) -> ProviderError:
    """The error a JSON-RPC ``error`` member stands for. Tracebacks are never copied."""
    kind, args = (error[0], error[1]) if isinstance(error, list) and len(error) >= 2 else (None, None)
    if kind == "UserError" and isinstance(args, list) and args:
        message = str(args[0])
        description = str(args[1]) if len(args) > 1 and args[1] else ""
        return DataError(f"{message} {description}".strip(), details={"tryton": "UserError"})
    if kind == "UserWarning" and isinstance(args, list) and len(args) >= 2:
        return TrytonUserWarning(str(args[0]), str(args[1]))
    if kind == "ConcurrencyException":
        return RetryableError("Tryton reported a concurrent change; try again", details={"tryton": kind})
    if kind == "LoginException":
        return AuthenticationError("Tryton asks for a new login", details={"tryton": kind})
    summary = str(kind if kind is not None else error)[:200]
    return RetryableError(f"Tryton failed with an internal error: {summary}", details={"tryton": "exception"})


class TrytonRPC:
    """One user session on one database. Not thread-safe: one per provider instance."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        url: str,
        database: str,
        credentials: Credentials,
        company: int | None = None,
    ) -> None:
        self._client = client
        self._endpoint = f"{url.rstrip('/')}/{database}/rpc/"
        self._database = database
        self._credentials = credentials
        self._company = company
        self._ids = itertools.count(1)
        self._authorization: str | None = None
        self.user_id: int | None = None
        self._context: dict[str, Any] | None = None

    @property
    def username(self) -> str:
        return str(self._credentials["username"])

    def login(self) -> None:
        password = self._credentials["password"]
        response = self._post("common.db.login", [self.username, {"password": password}, "en"])
        if response.status_code == 401:
            raise AuthenticationError(
                f"Tryton rejected the login of user {self.username!r}: wrong username or password",
                details={"status": 401},
            )
        if response.status_code == 404:
            raise DataError(
                f"Tryton has no database {self._database!r}", field="database", value=self._database
            )
        answer = self._result(response)
        if not (isinstance(answer, list) and len(answer) >= 2 and isinstance(answer[0], int) and answer[1]):
            raise MalformedAnswer("Tryton answered the login with something other than a user and a session")
        user_id, session = answer[:2]
        self.user_id = int(user_id)
        token = base64.b64encode(f"{self.username}:{user_id}:{session}".encode()).decode()
        self._authorization = f"Session {token}"
        self._context = None

    def logout(self) -> None:
        if self._authorization is None:
            return
        try:
            self._post("common.db.logout", [])
        except (ProviderError, httpx.HTTPError):
            pass
        self._authorization = None

    @property
    def context(self) -> dict[str, Any]:
        """The user's preferences as the context every model call ends with, company forced."""
        if self._context is None:
            preferences = self.call("model.res.user.get_preferences", True, {})
            if not isinstance(preferences, dict):
                raise MalformedAnswer(f"Tryton answered the user's preferences with a {type(preferences).__name__}")
            context = {k: v for k, v in preferences.items() if "." not in k and k != "locale"}
            if self._company is not None:
                if self._company not in (preferences.get("companies") or []):
                    raise DataError(
                        f"Tryton user {self.username!r} cannot work in company {self._company}",
                        field="company",
                        value=self._company,
                    )
                context["company"] = self._company
            if not context.get("company"):
                raise DataError(
                    f"Tryton user {self.username!r} has no current company; set one in Tryton or the "
                    "connection's 'company' setting",
                    field="company",
                )
            self._context = context
        return self._context

    @property
    def company(self) -> int:
        return int(self.context["company"])

    def model(self, model: str, method: str, *params: Any, context: Mapping[str, Any] | None = None) -> Any:
        """``model.<model>.<method>(*params, context)``; ``context`` is merged over the session's."""
        full = {**self.context, **(context or {})}
        return self.call(f"model.{model}.{method}", *params, full)

    def call(self, method: str, *params: Any) -> Any:
        if self._authorization is None:
            self.login()
        response = self._post(method, list(params))
        if response.status_code == 401:
            self.login()
            response = self._post(method, list(params))
            if response.status_code == 401:
                raise AuthenticationError("Tryton rejected the session right after login", details={"status": 401})
        if response.status_code == 403:
            raise DataError(
                f"Tryton refused {method} (HTTP 403): the method is not available to this user or module set",
                details={"status": 403, "method": method},
            )
        return self._result(response)

    def _post(self, method: str, params: list[Any]) -> httpx.Response:
        body = json.dumps({"id": next(self._ids), "method": method, "params": params}, default=encode)
        headers = {"Content-Type": "application/json"}
        if self._authorization and method != "common.db.login":
            headers["Authorization"] = self._authorization
        try:
            return self._client.post(
                self._endpoint, content=body, headers=headers, extensions={LOG_FIELDS: {"rpc": method}}
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, provider=PROVIDER) from exc

    def _result(self, response: httpx.Response) -> Any:
        error = error_for_status(response, provider=PROVIDER)
        if error is not None:
            raise error
        try:
            payload = json.loads(response.content, object_hook=decode)
        except (ValueError, KeyError, TypeError, ArithmeticError):  # not JSON, or a tagged value that is not one
            raise RetryableError("Tryton answered with something that is not JSON-RPC") from None
        if not isinstance(payload, dict):
            raise MalformedAnswer(f"Tryton answered with a JSON {type(payload).__name__} where JSON-RPC has an object")
        if "error" in payload and payload["error"] is not None:
            raise error_from_payload(payload["error"])
        return payload.get("result")

    def close(self) -> None:
        self.logout()
