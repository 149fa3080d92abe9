"""One error shape everywhere: ``{"error": {"message": ...}}`` (422s may add ``details``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    message: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: ErrorBody


class ApiError(Exception):
    """An answer other than success; raised anywhere below a route, rendered by the app."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        details: Sequence[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = list(details) if details else None
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return ErrorResponse(error=ErrorBody(message=self.message, details=self.details)).model_dump(
            exclude_none=True
        )


def not_found(what: str, identifier: object) -> ApiError:
    return ApiError(404, f"{what} {identifier} not found")


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def invalid(field: str, message: str) -> ApiError:
    """A 422 naming the field: ``"<field>: <message>"``."""
    return ApiError(422, f"{field}: {message}", details=[ErrorDetail(field=field, message=message)])


def field_path(loc: Iterable[int | str]) -> str:
    """``("body", "line_items", 0, "quantity")`` → ``line_items[0].quantity``."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked API key",
    403: "The API key does not cover this organization or operation",
    404: "Not found (or belongs to another organization)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Invalid input; the message names the field",
    502: "The accounting system answered with an error",
    503: "The accounting system could not be reached; try again later",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses, all with the error schema."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(code, "Error")} for code in codes}


def body_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``error_responses`` plus what any route with a request body can answer (400, 413)."""
    return error_responses(400, 413, *codes)
