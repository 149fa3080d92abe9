"""``Authorization: Bearer <api key>`` and the ``X-Organization-Id`` scope.

A key either belongs to one organization or is platform-wide (no organization). A missing, unknown
or revoked key is 401; an organization outside the key's scope is 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update

from api.db import DbSession
from api.errors import ApiError
from api.keys import find_active_key
from models import ApiKey, Organization, utcnow

LAST_USED_RESOLUTION = timedelta(minutes=1)

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer bks_...`.")


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: uuid.UUID
    organization_id: uuid.UUID | None

    @property
    def platform_wide(self) -> bool:
        return self.organization_id is None

    def may_act_for(self, organization_id: uuid.UUID) -> bool:
        return self.organization_id is None or self.organization_id == organization_id


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    session: DbSession, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
        raise _unauthorized("missing API key: send Authorization: Bearer <key>")
    key = find_active_key(session, credentials.credentials)
    if key is None:
        raise _unauthorized("unknown or revoked API key")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        session.commit()
    return Principal(key_id=key.id, organization_id=key.organization_id)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_platform_key(principal: CurrentPrincipal) -> Principal:
    if not principal.platform_wide:
        raise ApiError(403, "this operation needs a platform-wide API key")
    return principal


def organization_scope(
    principal: CurrentPrincipal,
    session: DbSession,
    x_organization_id: Annotated[
        uuid.UUID,
        Header(alias="X-Organization-Id", description="The organization the call acts for (a UUID)."),
    ],
) -> uuid.UUID:
    if not principal.may_act_for(x_organization_id):
        raise ApiError(403, f"the API key does not cover organization {x_organization_id}")
    if session.get(Organization, x_organization_id) is None:
        raise ApiError(
            404, f"organization {x_organization_id} not found; create it with PUT /organizations/{x_organization_id}"
        )
    return x_organization_id


OrganizationId = Annotated[uuid.UUID, Depends(organization_scope)]
