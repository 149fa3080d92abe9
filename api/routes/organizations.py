"""``/organizations/{id}``: organizations come from the platform (PUT with a platform-wide key)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy.exc import IntegrityError

from api.auth import CurrentPrincipal, Principal, require_platform_key
from api.db import DbSession
from api.errors import ApiError, body_error_responses, error_responses, not_found
from api.schemas.organizations import OrganizationPut, OrganizationResource
from models import Organization, utcnow

router = APIRouter(prefix="/organizations", tags=["Organizations"], responses=error_responses(401, 403, 404, 422))


def organization_resource(organization: Organization) -> OrganizationResource:
    return OrganizationResource(
        id=organization.id,
        name=organization.name,
        created_at=organization.created_at,
        updated_at=organization.updated_at,
    )


@router.put(
    "/{organization_id}",
    response_model=OrganizationResource,
    summary="Create or rename an organization (platform-wide key)",
    description="Idempotent, by the platform's id: 201 when created, 200 otherwise.",
    responses={201: {"model": OrganizationResource, "description": "Created"}, **body_error_responses(409)},
)
def put_organization(
    organization_id: uuid.UUID,
    body: OrganizationPut,
    response: Response,
    session: DbSession,
    _: Annotated[Principal, Depends(require_platform_key)],
) -> OrganizationResource:
    organization = session.get(Organization, organization_id)
    if organization is None:
        now = utcnow()
        organization = Organization(id=organization_id, name=body.name, created_at=now, updated_at=now)
        session.add(organization)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise ApiError(409, f"organization {organization_id} was created concurrently; retry") from None
        response.status_code = 201
    elif organization.name != body.name:
        organization.name = body.name
        organization.updated_at = utcnow()
        session.commit()
    return organization_resource(organization)


@router.get("/{organization_id}", response_model=OrganizationResource, summary="Get an organization")
def get_organization(
    organization_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> OrganizationResource:
    if not principal.may_act_for(organization_id):
        raise ApiError(403, f"the API key does not cover organization {organization_id}")
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise not_found("organization", organization_id)
    return organization_resource(organization)
