"""Types every schema shares: text PostgreSQL can store, UTC datetimes, JSON without NULs, response bodies
without nulls, exact amounts, and the reference's enums."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, WithJsonSchema
from pydantic import model_serializer


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


#: The reference's default page size: its schema says 250 (its prose says 100); booksync follows the schema.
DEFAULT_PAGE_LIMIT = 250
PageLimit = Annotated[
    int,
    Field(
        ge=1,
        le=250,
        description="Items per page (1–250). Default 250, as in the reference's schema (its prose says 100). "
        "Not taken from `pagination_token`: send it with every page when it is not the default.",
    ),
]
PAGINATION_TOKEN = (
    "From a previous page's `next_pagination_token` or `prev_pagination_token`. With it, every other query "
    "parameter except `limit` is ignored and taken from the query the token was issued for (the reference's "
    "semantics). Tokens are signed, and expire."
)


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageResponse(ResponseModel):
    message: str


def without_nulls(schema: dict[str, Any]) -> None:
    """The JSON schema of a body that never carries null: ``anyOf: [X, null]`` is X, no ``default: null``."""
    for name, prop in list(schema.get("properties", {}).items()):
        branches = prop.get("anyOf")
        if branches and {"type": "null"} in branches:
            rest = [branch for branch in branches if branch != {"type": "null"}]
            del prop["anyOf"]
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
        if "default" in prop and prop["default"] is None:
            del prop["default"]
        schema["properties"][name] = prop


class WireModel(ResponseModel):
    """A response body in the reference's manner: no field is ever ``null``. A field without a value is
    left out of the JSON (and its schema says so: optional, never nullable)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=without_nulls)

    @model_serializer(mode="wrap")
    def _omit_nulls(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # No return annotation on purpose: with one, pydantic would document the body as that type.
        data = handler(self)
        return {name: value for name, value in data.items() if value is not None}


#: An amount in the document's currency (``144.00`` USD, ``1000`` JPY, ``1.234`` KWD), sent as a JSON
#: number with exactly these digits (``api.responses.ExactJSONResponse``); never a float.
Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]


class Platform(enum.StrEnum):
    """The reference's ``Platform``, exactly: clients generated from the reference treat it as closed and
    refuse a value outside it, so booksync's other platforms (Tryton) are never sent in it."""

    XERO = "xero"
    QUICKBOOKS = "quickbooks"
    QUICKBOOKS_ONLINE = "quickbooks_online"
    QUICKBOOKS_ONLINE_SANDBOX = "quickbooks_online_sandbox"


class ServiceProvider(enum.StrEnum):
    """The reference's ``ServiceProvidersEnum``: the aggregator between it and the accounting system.
    booksync talks to accounting systems itself, so it never sends one."""

    CODAT = "codat"
    RAILZ = "railz"
