"""Types every schema shares: text PostgreSQL can store, UTC datetimes, JSON without NULs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text") from None
    return value


def storable_json(value: Any) -> Any:
    """Reject what a JSONB column cannot hold (NULs, lone surrogates), keys included."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            storable_json(item)
    elif isinstance(value, list):
        for item in value:
            storable_json(item)
    return value


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Text = Annotated[str, AfterValidator(storable_text)]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
JsonObject = Annotated[dict[str, Any], AfterValidator(storable_json)]
TaxRateValue = Annotated[int, Field(ge=0, le=10_000, description="Hundredths of a percent: 20% is 2000.")]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageResponse(ResponseModel):
    message: str
