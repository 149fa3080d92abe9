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
