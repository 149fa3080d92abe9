"""API keys: shown once, stored hashed, listed without their secret, revocable by id or prefix."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.keys import ApiKeyError, create_api_key, list_api_keys, revoke_api_key
from models import ApiKey
from tests.api.conftest import make_organization


def test_create_returns_the_key_once_and_stores_only_its_hash(db: Session) -> None:
    organization_id = make_organization(db)
    created = create_api_key(db, organization_id, name="billing app")
    db.commit()
    assert created.key.startswith("bks_") and len(created.key) > 40
    row = db.scalar(select(ApiKey).where(ApiKey.id == created.info.id))
    assert row is not None
    assert row.key_hash == hashlib.sha256(created.key.encode()).hexdigest()
    assert created.key not in {row.key_hash, row.prefix, row.name}
    assert created.key.startswith(row.prefix) and len(row.prefix) == 12
    assert created.info.organization_id == organization_id and not created.info.platform_wide


def test_create_for_an_unknown_organization_is_refused(db: Session) -> None:
    with pytest.raises(ApiKeyError, match="does not exist"):
        create_api_key(db, uuid.uuid4())


def test_list_hides_revoked_keys_unless_asked(db: Session) -> None:
    organization_id = make_organization(db)
    kept = create_api_key(db, organization_id)
    gone = create_api_key(db, None, name="platform")
    revoke_api_key(db, gone.info.id)
    db.commit()
    assert [info.id for info in list_api_keys(db)] == [kept.info.id]
    assert {info.id for info in list_api_keys(db, include_revoked=True)} == {kept.info.id, gone.info.id}
    assert [info.id for info in list_api_keys(db, organization_id)] == [kept.info.id]


def test_revoke_by_prefix_is_idempotent(db: Session) -> None:
    created = create_api_key(db, None)
    first = revoke_api_key(db, created.info.prefix)
    second = revoke_api_key(db, str(created.info.id))
    assert first.revoked_at is not None and second.revoked_at == first.revoked_at


def test_revoke_unknown_key_is_refused(db: Session) -> None:
    with pytest.raises(ApiKeyError, match="no API key"):
        revoke_api_key(db, "bks_nothing")


def test_a_revoked_key_is_refused_by_the_api(client: TestClient, db: Session) -> None:
    organization_id = make_organization(db)
    created = create_api_key(db, organization_id)
    db.commit()
    headers = {"Authorization": f"Bearer {created.key}", "X-Organization-Id": str(organization_id)}
    assert client.get("/accounting-connections", headers=headers).status_code == 200
    revoke_api_key(db, created.info.id)
    db.commit()
    response = client.get("/accounting-connections", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": {"message": "unknown or revoked API key"}}


def test_use_is_recorded(client: TestClient, db: Session) -> None:
    organization_id = make_organization(db)
    created = create_api_key(db, organization_id)
    db.commit()
    assert created.info.last_used_at is None
    headers = {"Authorization": f"Bearer {created.key}", "X-Organization-Id": str(organization_id)}
    client.get("/accounting-connections", headers=headers)
    db.expire_all()
    assert list_api_keys(db)[0].last_used_at is not None
