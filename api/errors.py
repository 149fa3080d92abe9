"""One error shape everywhere: ``{"error": {"message": ...}}`` (422s may add ``details``).

A 422 also carries the reference's ``detail`` list beside it (``HTTPValidationError``:
``{"detail": [{"loc": ["query", "limit"], "msg": ..., "type": ...}]}``), so a client written against
the reference reads booksync's validation errors as it reads the reference's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import without_nulls


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    message: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=without_nulls)

    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: ErrorBody


class ValidationErrorItem(BaseModel):
    """The reference's ``ValidationError`` (FastAPI's own shape)."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int] = Field(description="Where: the part of the request first, then the field's path.")
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    """A 422: the reference's ``detail`` list and booksync's ``error`` beside it."""

    model_config = ConfigDict(extra="forbid")

    detail: list[ValidationErrorItem]
    error: ErrorBody


Location = Literal["body", "query", "path", "header"]


class ApiError(Exception):
    """An answer other than success; raised anywhere below a route, rendered by the app."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        details: Sequence[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
        location: Location = "body",
        validation: Sequence[ValidationErrorItem] | None = None,
    ) -> None:
        """``location`` is the part of the request ``details`` name fields of (422s); ``validation`` gives
        the reference's ``detail`` items outright instead."""
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = list(details) if details else None
        self.headers = headers
        self.location = location
        self.validation = list(validation) if validation else None

    def detail(self) -> list[ValidationErrorItem]:
        if self.validation:
            return self.validation
        if self.details:
            return [
                ValidationErrorItem(loc=field_loc(self.location, item.field), msg=item.message, type="value_error")
                for item in self.details
            ]
        return [ValidationErrorItem(loc=[self.location], msg=self.message, type="value_error")]

    def body(self) -> dict[str, Any]:
        error = ErrorBody(message=self.message, details=self.details)
        if self.status_code == 422:
            return ValidationErrorResponse(detail=self.detail(), error=error).model_dump(exclude_none=True)
        return ErrorResponse(error=error).model_dump(exclude_none=True)


def not_found(what: str, identifier: object) -> ApiError:
    return ApiError(404, f"{what} {identifier} not found")


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def invalid(field: str, message: str, *, location: Location = "body") -> ApiError:
    """A 422 naming the field: ``"<field>: <message>"``; ``location`` is where the field is (body, query...)."""
    return ApiError(422, f"{field}: {message}", details=[ErrorDetail(field=field, message=message)], location=location)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def field_loc(location: str, field: str) -> list[str | int]:
    """``("body", "line_items[0].total")`` → ``["body", "line_items", 0, "total"]`` (``field_path`` undone)."""
    loc: list[str | int] = [location]
    if field != "body":
        for name, index in _PATH_PART.findall(field):
            loc.append(int(index) if index else name)
    return loc


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
    405: "The path does not take this method (`Allow` names those it takes)",
    413: "Request body too large",
    422: "Invalid input: the reference's `detail` list, and `error` whose message names the field",
    500: "Internal error (logged)",
    502: "The accounting system answered with an error",
    503: "The accounting system could not be reached; try again later",
}


#: What any route can answer, as the reference documents for each of its operations.
ALWAYS = (405, 500)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses (and 405, 500), all with the error schema."""
    codes = tuple(sorted({*codes, *ALWAYS}))
    return {
        code: {"model": ValidationErrorResponse if code == 422 else ErrorResponse,
               "description": _DESCRIPTIONS.get(code, "Error")}
        for code in codes
    }


def body_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``error_responses`` plus what any route with a request body can answer (400, 413)."""
    return error_responses(400, 413, *codes)
