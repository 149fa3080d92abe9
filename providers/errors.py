"""The one error hierarchy every adapter raises; the engine decides what to do by class alone."""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """Base class. ``message`` is for a person: what went wrong and, where possible, what to do."""

    kind = "provider"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_errors(self) -> dict[str, Any]:
        """The structured ``errors`` object stored on a synced record or connection."""
        return {"kind": self.kind, "message": self.message, **({"details": self.details} if self.details else {})}


class RetryableError(ProviderError):
    """Worth trying again later: network failures, timeouts, 5xx, 429."""

    kind = "retryable"

    def __init__(self, message: str, *, retry_after: float | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class AuthenticationError(ProviderError):
    """Credentials are wrong, revoked, or expired beyond refresh: a person must reconnect."""

    kind = "authentication"


class DataError(ProviderError):
    """The accounting system refused this document; ``field`` and ``value`` say what to fix."""

    kind = "data"

    def __init__(
        self, message: str, *, field: str | None = None, value: Any = None, details: dict[str, Any] | None = None
    ) -> None:
        merged = dict(details or {})
        if field is not None:
            merged["field"] = field
        if value is not None:
            merged["value"] = value
        super().__init__(message, details=merged)
        self.field = field
        self.value = value


class NotFoundError(ProviderError):
    """The object does not exist in the accounting system (or no longer does)."""

    kind = "not_found"


class RateLimited(RetryableError):
    """A call would pass the provider's rate limit and the wait is too long to sleep through.

    The sync stops at a clean point (what was pushed stays recorded) and is rescheduled for
    ``retry_after``, when the budget returns; it is not an outage and costs no record an attempt.
    """

    kind = "rate_limited"


class Unreachable(RetryableError):
    """No answer came back: the connection was refused, timed out or dropped. The message says which,
    for the sync log; answers to tenants say only that the server could not be reached (telling a
    refused connection from a dropped one would tell them which ports are open)."""


class MalformedAnswer(RetryableError):
    """The accounting system answered, but with data of a shape booksync cannot read (a list where an
    object belongs, a missing field, a null). Retried like an outage, since a proxy's error page or a
    server mid-upgrade answers like this; after the retries the connection shows the message."""

    kind = "malformed_answer"


class NotReadyError(DataError):
    """The object cannot go *yet*, for a reason in the accounting system that is expected to pass (a payment
    for an invoice that is still a draft there: Tryton and Xero pay only posted invoices). The engine keeps
    the record ``pending`` with this message and tries again at the next sync; it costs no attempt."""

    kind = "waiting"
