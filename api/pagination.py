"""Keyset pagination behind opaque, tamper-evident tokens.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(payload))``, signed with a key derived
from the newest Fernet key (any configured key verifies, so a key rotation does not break tokens
in flight). The payload holds the list it belongs to, the organization, the query it was issued for
(filters, sort, order), the keyset position (sort value + id), the direction and the issue time.

A request with a token runs the token's query, as the reference has it: "if ``pagination_token`` is
specified, all other query parameters except ``limit`` are ignored and inferred from the initial
query". ``limit`` is not in the token: each request gives its own (or the default).
Pages never use OFFSET: the next page is ``(sort, id) > (last sort, last id)`` on an index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, bindparam, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import invalid
from config import get_settings

FIELD = "pagination_token"
TOKEN_VERSION = 1
CLOCK_SKEW_SECONDS = 60
_KEY_INFO = b"booksync:pagination-token:v1"

Direction = Literal["next", "prev"]
Params = TypeVar("Params", bound=BaseModel)
Row = TypeVar("Row")
SortValue = datetime | str


@dataclass(frozen=True, slots=True)
class Position:
    value: SortValue
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class PageRequest:
    scope: str
    organization_id: uuid.UUID
    query: dict[str, Any]
    limit: int
    position: Position | None
    direction: Direction


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    rows: list[Row]
    next_token: str | None
    prev_token: str | None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_keys() -> list[bytes]:
    return [hmac.new(key, _KEY_INFO, hashlib.sha256).digest() for key in get_settings().fernet_keys()]


def _sign(body: str, key: bytes) -> str:
    return _b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest())


def _encode_position(position: Position) -> list[str]:
    if isinstance(position.value, datetime):
        return ["dt", position.value.isoformat(), str(position.id)]
    return ["s", position.value, str(position.id)]


def _decode_position(raw: Any) -> Position:
    kind, value, ident = raw
    if kind == "dt":
        return Position(datetime.fromisoformat(value), uuid.UUID(ident))
    if kind == "s" and isinstance(value, str):
        return Position(value, uuid.UUID(ident))
    raise ValueError(kind)


def issue_token(
    scope: str, organization_id: uuid.UUID, query: dict[str, Any], position: Position, direction: Direction
) -> str:
    payload = {
        "v": TOKEN_VERSION,
        "s": scope,
        "o": str(organization_id),
        "q": query,
        "k": _encode_position(position),
        "d": direction,
        "t": int(time.time()),
    }
    body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_sign(body, _signing_keys()[0])}"


def _forged() -> Exception:
    return invalid(FIELD, "is not a token this API issued (or was altered); start again without it", location="query")


def read_token(token: str, scope: str, organization_id: uuid.UUID) -> tuple[dict[str, Any], Position, Direction]:
    """The token's query, position and direction; 422 naming ``pagination_token`` when it is not valid here."""
    body, _, signature = token.partition(".")
    if not token.isascii() or not body or not signature or not any(
        hmac.compare_digest(_sign(body, key), signature) for key in _signing_keys()
    ):
        raise _forged()
    try:
        payload = json.loads(_b64decode(body))
        issued = int(payload["t"])
        query = payload["q"]
        position = _decode_position(payload["k"])
        direction = payload["d"]
        if payload["v"] != TOKEN_VERSION or direction not in ("next", "prev") or not isinstance(query, dict):
            raise ValueError(direction)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _forged() from None
    if payload["s"] != scope or payload["o"] != str(organization_id):
        raise invalid(FIELD, "was issued for another list or organization", location="query")
    age = time.time() - issued
    if age < -CLOCK_SKEW_SECONDS:
        raise _forged()
    max_age = get_settings().pagination_token_max_age_seconds
    if age > max_age:
        raise invalid(FIELD, f"has expired (tokens last {max_age} seconds); start again without it", location="query")
    return query, position, direction


def start_page(
    params: Params, *, scope: str, organization_id: uuid.UUID, control: Sequence[str] = ("limit", FIELD)
) -> tuple[Params, PageRequest]:
    """Resolve the query a list request runs: its own, or (with a token) the token's, whatever else it repeats."""
    token = getattr(params, FIELD)
    limit = int(getattr(params, "limit"))
    if token is None:
        given = {k: v for k, v in params.model_dump(mode="json", exclude=set(control)).items() if v is not None}
        return params, PageRequest(scope, organization_id, given, limit, None, "next")
    query, position, direction = read_token(token, scope, organization_id)
    try:
        resolved = type(params).model_validate({**query, "limit": limit, FIELD: token})
    except ValidationError:
        raise _forged() from None
    return resolved, PageRequest(scope, organization_id, query, limit, position, direction)


def fetch_page(
    session: Session,
    statement: Select[tuple[Row]],
    request: PageRequest,
    *,
    sort: InstrumentedAttribute[Any],
    ident: InstrumentedAttribute[uuid.UUID],
    descending: bool,
    position_of: Callable[[Row], Position],
    plain_rows: bool = False,
) -> Page[Row]:
    """One page of ``statement`` (already filtered) ordered by ``(sort, ident)``.

    ``plain_rows``: ``statement`` selects columns, and the page holds its rows as they come (named
    tuples: no ORM objects, no identity map; several times faster to load a page of 250).
    """
    backwards = request.direction == "prev"
    scan_descending = descending != backwards
    if request.position is not None:
        keys = tuple_(sort, ident)
        anchor = tuple_(
            bindparam(None, request.position.value, type_=sort.type),
            bindparam(None, request.position.id, type_=ident.type),
        )
        statement = statement.where(keys < anchor if scan_descending else keys > anchor)
    order = (sort.desc(), ident.desc()) if scan_descending else (sort.asc(), ident.asc())
    ordered = statement.order_by(*order).limit(request.limit + 1)
    rows = list(session.execute(ordered).all() if plain_rows else session.scalars(ordered))
    more = len(rows) > request.limit
    rows = rows[: request.limit]
    if backwards:
        rows.reverse()

    def token(row: Row, direction: Direction) -> str:
        return issue_token(request.scope, request.organization_id, request.query, position_of(row), direction)

    if not rows:
        return Page(rows, None, None)
    if backwards:
        return Page(rows, token(rows[-1], "next"), token(rows[0], "prev") if more else None)
    came_from_earlier = request.position is not None
    return Page(rows, token(rows[-1], "next") if more else None, token(rows[0], "prev") if came_from_earlier else None)
