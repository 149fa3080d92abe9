"""API keys: created once in clear text, stored as a SHA-256 hash with a short display prefix.

These functions take a Session and flush but do not commit: the caller (the CLI's
``booksync api-keys ...`` or a test) owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import ApiKey, Organization, utcnow

KEY_PREFIX = "bks_"
DISPLAY_PREFIX_LENGTH = 12


class ApiKeyError(LookupError):
    """The organization or key named does not exist (or the prefix is ambiguous)."""


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A key as listed: never its secret."""

    id: uuid.UUID
    prefix: str
    name: str
    organization_id: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def platform_wide(self) -> bool:
        return self.organization_id is None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """A new key. ``key`` is the only time the clear text exists anywhere; show it once."""

    key: str
    info: ApiKeyInfo


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        organization_id=row.organization_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_api_key(session: Session, organization_id: uuid.UUID | None = None, name: str = "") -> CreatedApiKey:
    """A key scoped to ``organization_id``, or platform-wide when None."""
    if organization_id is not None and session.get(Organization, organization_id) is None:
        raise ApiKeyError(f"organization {organization_id} does not exist")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=uuid.uuid4(),
        organization_id=organization_id,
        name=name,
        prefix=key[:DISPLAY_PREFIX_LENGTH],
        key_hash=hash_key(key),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return CreatedApiKey(key=key, info=_info(row))


def list_api_keys(
    session: Session, organization_id: uuid.UUID | None = None, *, include_revoked: bool = False
) -> list[ApiKeyInfo]:
    """All keys (or one organization's), oldest first."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if organization_id is not None:
        query = query.where(ApiKey.organization_id == organization_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return [_info(row) for row in session.scalars(query)]


def revoke_api_key(session: Session, key: str | uuid.UUID) -> ApiKeyInfo:
    """Revoke by id or by display prefix; revoking a revoked key changes nothing."""
    conditions = [ApiKey.prefix == str(key)]
    try:
        conditions.append(ApiKey.id == (key if isinstance(key, uuid.UUID) else uuid.UUID(str(key))))
    except ValueError:
        pass
    rows = list(session.scalars(select(ApiKey).where(or_(*conditions))))
    if not rows:
        raise ApiKeyError(f"no API key with id or prefix {key}")
    if len(rows) > 1:
        raise ApiKeyError(f"prefix {key} matches {len(rows)} keys; revoke by id")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return _info(row)


def find_active_key(session: Session, key: str) -> ApiKey | None:
    """The unrevoked key whose hash matches, if any."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return row
