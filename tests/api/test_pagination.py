"""Pagination tokens are opaque and tamper-evident: forged, altered, stale, foreign or mismatched ones are 422."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import Tenant, make_connection, make_records, make_tax_rate
from config import get_settings
from tests.support.env import booksync_env

URL = "/accounting-synced-records"


@pytest.fixture
def token(client: TestClient, tenant: Tenant, db: Session) -> str:
    make_records(db, make_connection(db, tenant.id), 5)
    response = client.get(f"{URL}?object_type=bill&limit=2&sync_status=done", headers=tenant.headers)
    return str(response.json()["next_pagination_token"])


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _with_payload(token: str, **changes: Any) -> str:
    payload = {**_payload(token), **changes}
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{body}.{token.split('.')[1]}"


def _refused(client: TestClient, tenant: Tenant, token: str, query: str = "object_type=bill") -> str:
    response = client.get(f"{URL}?{query}&pagination_token={token}", headers=tenant.headers)
    assert response.status_code == 422, response.text
    message = str(response.json()["error"]["message"])
    assert message.startswith("pagination_token: ")
    return message


def test_a_valid_token_works(client: TestClient, tenant: Tenant, token: str) -> None:
    response = client.get(f"{URL}?object_type=bill&limit=2&pagination_token={token}", headers=tenant.headers)
    assert response.status_code == 200 and len(response.json()["data"]) == 2


def test_the_limit_is_not_taken_from_the_token(client: TestClient, tenant: Tenant, token: str) -> None:
    response = client.get(f"{URL}?object_type=bill&pagination_token={token}", headers=tenant.headers)
    assert len(response.json()["data"]) == 3


@pytest.mark.parametrize("forged", ["", "abc", "abc.def", "eyJ2IjoxfQ.AAAA", "....", "é.é"])
def test_forged_tokens_are_refused(client: TestClient, tenant: Tenant, token: str, forged: str) -> None:
    assert "not a token this API issued" in _refused(client, tenant, forged)


def test_an_altered_position_is_refused(client: TestClient, tenant: Tenant, token: str) -> None:
    payload = _payload(token)
    altered = _with_payload(token, k=[payload["k"][0], "2000-01-01T00:00:00+00:00", payload["k"][2]])
    assert "not a token this API issued" in _refused(client, tenant, altered)


def test_an_altered_query_is_refused(client: TestClient, tenant: Tenant, token: str) -> None:
    altered = _with_payload(token, q={**_payload(token)["q"], "sync_status": "error"})
    assert "not a token this API issued" in _refused(client, tenant, altered)


def test_a_stale_token_is_refused(client: TestClient, tenant: Tenant, token: str) -> None:
    from api.pagination import _sign, _signing_keys

    max_age = get_settings().pagination_token_max_age_seconds
    body = _with_payload(token, t=int(time.time()) - max_age - 5).split(".")[0]
    issued_long_ago = f"{body}.{_sign(body, _signing_keys()[0])}"
    assert "has expired" in _refused(client, tenant, issued_long_ago)


def test_with_a_token_every_other_parameter_but_limit_is_ignored(
    client: TestClient, tenant: Tenant, token: str
) -> None:
    """The reference: "If pagination_token is specified, all other query parameters except limit are ignored and
    inferred from the initial query" (so no object_type is needed, and a differing one changes nothing)."""
    expected = client.get(f"{URL}?limit=2&pagination_token={token}", headers=tenant.headers)
    assert expected.status_code == 200 and len(expected.json()["data"]) == 2
    for other in ("object_type=receivable", "object_type=bill&sync_status=error", "order=desc&sort=updated_at",
                  "created_at__gt=2100-01-01T00:00:00Z"):
        response = client.get(f"{URL}?{other}&limit=2&pagination_token={token}", headers=tenant.headers)
        assert response.status_code == 200 and response.json() == expected.json(), other


def test_a_token_of_another_organization_is_refused(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, token: str
) -> None:
    assert "another list or organization" in _refused(client, other_tenant, token)


def test_a_token_of_another_list_is_refused(client: TestClient, tenant: Tenant, token: str, db: Session) -> None:
    for name in ("a", "b", "c"):
        make_tax_rate(db, tenant.id, name)
    tax_token = client.get("/accounting-tax-rates?limit=1", headers=tenant.headers).json()["next_pagination_token"]
    assert "another list or organization" in _refused(client, tenant, tax_token)
    response = client.get(f"/accounting-tax-rates?pagination_token={token}", headers=tenant.headers)
    assert response.status_code == 422


def test_tokens_survive_a_key_rotation_but_not_a_lost_key(
    client: TestClient, tenant: Tenant, token: str, pg_url: str, test_home: Any
) -> None:
    import os

    old_key = (test_home / "secret.key").read_text().strip()
    new_key = Fernet.generate_key().decode()
    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], secret_key=f"{new_key},{old_key}"):
        response = client.get(f"{URL}?object_type=bill&pagination_token={token}", headers=tenant.headers)
        assert response.status_code == 200
    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], secret_key=new_key):
        assert "not a token this API issued" in _refused(client, tenant, token)
