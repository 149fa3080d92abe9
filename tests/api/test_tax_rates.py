"""``/accounting-tax-rates``: external rates are read-only; internal ones are created, changed, deleted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models import AccountingTaxRate
from tests.api.conftest import Tenant, counterpart_body, document_body, make_connection, make_tax_rate

URL = "/accounting-tax-rates"


def _names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["data"]]


def test_list_by_name_with_the_is_external_filter(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    make_tax_rate(db, tenant.id, "VAT 20", connection=connection)
    make_tax_rate(db, tenant.id, "Reduced 5", connection=connection, rate=500)
    make_tax_rate(db, tenant.id, "Internal 7", rate=700)
    assert _names(client.get(URL, headers=tenant.headers)) == ["Internal 7", "Reduced 5", "VAT 20"]
    assert _names(client.get(f"{URL}?is_external=true", headers=tenant.headers)) == ["Reduced 5", "VAT 20"]
    assert _names(client.get(f"{URL}?is_external=false", headers=tenant.headers)) == ["Internal 7"]
    assert _names(client.get(f"{URL}?order=desc", headers=tenant.headers)) == ["VAT 20", "Reduced 5", "Internal 7"]
    item = client.get(f"{URL}?is_external=false", headers=tenant.headers).json()["data"][0]
    assert item["effective_tax_rate"] == 700 and item["total_tax_rate"] == 700 and item["is_external"] is False
    assert item["components"] == [{"name": "Internal 7", "rate": 700, "is_compound": False}]


def test_external_rates_of_a_disconnected_system_are_not_listed(
    client: TestClient, tenant: Tenant, db: Session
) -> None:
    old = make_connection(db, tenant.id, status="disconnected")
    gone = make_tax_rate(db, tenant.id, "Old VAT", connection=old)
    assert _names(client.get(URL, headers=tenant.headers)) == []
    assert client.get(f"{URL}/{gone.id}", headers=tenant.headers).status_code == 404


def test_list_is_paginated(client: TestClient, tenant: Tenant, db: Session) -> None:
    for index in range(5):
        make_tax_rate(db, tenant.id, f"Rate {index}")
    def after(page: Any) -> Any:
        token = page.json()["next_pagination_token"]
        return client.get(f"{URL}?limit=2&pagination_token={token}", headers=tenant.headers)

    first = client.get(f"{URL}?limit=2", headers=tenant.headers)
    second = after(first)
    third = after(second)
    assert _names(first) + _names(second) + _names(third) == [f"Rate {i}" for i in range(5)]
    assert "next_pagination_token" not in third.json()
    back = client.get(f"{URL}?limit=2&pagination_token={third.json()['prev_pagination_token']}", headers=tenant.headers)
    assert _names(back) == _names(second)


@pytest.mark.parametrize("query", ["sort=rate", "limit=0", "is_external=maybe", "pagination_token=x"])
def test_bad_list_parameters_are_422(client: TestClient, tenant: Tenant, query: str) -> None:
    response = client.get(f"{URL}?{query}", headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(query.split("=")[0] + ": ")


def test_create_get_update_delete_an_internal_rate(client: TestClient, tenant: Tenant) -> None:
    body = {
        "name": "GST+PST",
        "code": "GP",
        "effective_tax_rate": 1200,
        "components": [{"name": "GST", "rate": 500}, {"name": "PST", "rate": 700, "is_compound": False}],
    }
    created = client.post(URL, headers=tenant.headers, json=body)
    assert created.status_code == 201
    rate = created.json()
    assert rate["is_external"] is False and rate["total_tax_rate"] == 1200 and rate["status"] == "active"
    assert client.get(f"{URL}/{rate['id']}", headers=tenant.headers).json() == rate
    patched = client.patch(f"{URL}/{rate['id']}", headers=tenant.headers, json={"name": "GST + PST", "code": None})
    assert patched.status_code == 200
    assert patched.json()["name"] == "GST + PST" and "code" not in patched.json()
    assert patched.json()["effective_tax_rate"] == 1200 and patched.json()["updated_at"] > rate["updated_at"]
    same = client.patch(f"{URL}/{rate['id']}", headers=tenant.headers, json={"name": "GST + PST"})
    assert same.json()["updated_at"] == patched.json()["updated_at"]
    deleted = client.delete(f"{URL}/{rate['id']}", headers=tenant.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"{URL}/{rate['id']}", headers=tenant.headers).status_code == 404


@pytest.mark.parametrize(("components", "effective"), [
    ([{"name": "GST", "rate": 500}, {"name": "PST", "rate": 700}], 1200),
    ([{"name": "GST", "rate": 500}, {"name": "QST", "rate": 1000, "is_compound": True}], 1550),  # 5 + 10 × 1.05
    ([{"name": "GST", "rate": 500}, {"name": "QST", "rate": 750, "is_compound": True}], 1288),  # 12.875%, half up
])
def test_effective_rate_left_out_is_what_the_components_make(
    client: TestClient, tenant: Tenant, components: list[dict[str, Any]], effective: int
) -> None:
    created = client.post(URL, headers=tenant.headers, json={"name": "x", "components": components})
    assert created.status_code == 201, created.text
    assert created.json()["effective_tax_rate"] == effective
    assert created.json()["total_tax_rate"] == sum(c["rate"] for c in components)


def test_effective_rate_must_agree_with_the_components(client: TestClient, tenant: Tenant) -> None:
    one = [{"name": "PST", "rate": 500}]
    refused = client.post(URL, headers=tenant.headers, json={"name": "x", "effective_tax_rate": 2000, "components": one})
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("effective_tax_rate: is 2000 but the components make 500")
    assert refused.json()["detail"][0]["loc"] == ["body", "effective_tax_rate"]
    compound = [{"name": "GST", "rate": 500}, {"name": "QST", "rate": 750, "is_compound": True}]
    for either_way in (1287, 1288):  # 12.875%
        body = {"name": "x", "effective_tax_rate": either_way, "components": compound}
        assert client.post(URL, headers=tenant.headers, json=body).status_code == 201
    assert client.post(URL, headers=tenant.headers, json={"name": "x"}).json()["error"]["message"] == (
        "effective_tax_rate: field required (unless components are given)"
    )


def test_a_patch_keeps_effective_and_total_rates_with_the_components(client: TestClient, tenant: Tenant) -> None:
    body = {"name": "x", "effective_tax_rate": 700, "components": [{"name": "PST", "rate": 700}]}
    rate = client.post(URL, headers=tenant.headers, json=body).json()
    refused = client.patch(f"{URL}/{rate['id']}", headers=tenant.headers, json={"effective_tax_rate": 750})
    assert refused.status_code == 422 and "the components make 700" in refused.json()["error"]["message"]
    both = {"effective_tax_rate": 750, "components": [{"name": "PST", "rate": 750}]}
    changed = client.patch(f"{URL}/{rate['id']}", headers=tenant.headers, json=both).json()
    assert (changed["effective_tax_rate"], changed["total_tax_rate"]) == (750, 750)
    recomputed = client.patch(f"{URL}/{rate['id']}", headers=tenant.headers, json={
        "components": [{"name": "GST", "rate": 500}, {"name": "PST", "rate": 700}]}).json()
    assert (recomputed["effective_tax_rate"], recomputed["total_tax_rate"]) == (1200, 1200)
    alone = client.patch(f"{URL}/{rate['id']}", headers=tenant.headers, json={"components": [], "effective_tax_rate": 900})
    assert (alone.json()["effective_tax_rate"], alone.json()["total_tax_rate"]) == (900, 900)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "effective_tax_rate": 10001}, "effective_tax_rate"),
        ({"name": "x", "effective_tax_rate": -1}, "effective_tax_rate"),
        ({"name": "", "effective_tax_rate": 1}, "name"),
        ({"effective_tax_rate": 1}, "name"),
        ({"name": "x", "effective_tax_rate": 1, "is_external": True}, "is_external"),
        ({"name": "x", "effective_tax_rate": 1, "components": [{"name": "a", "rate": 20000}]}, "components[0].rate"),
        ({"name": "a\u0000b", "effective_tax_rate": 1}, "name"),
    ],
)
def test_create_with_bad_input_is_422_naming_the_field(
    client: TestClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = client.post(URL, headers=tenant.headers, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(f"{field}: ")


def test_patch_refuses_nulls_and_unknown_fields(client: TestClient, tenant: Tenant, db: Session) -> None:
    rate = make_tax_rate(db, tenant.id, "Internal")
    assert client.patch(f"{URL}/{rate.id}", headers=tenant.headers, json={"name": None}).json()["error"]["message"] == (
        "name: may not be null"
    )
    assert client.patch(f"{URL}/{rate.id}", headers=tenant.headers, json={"status": "archived"}).status_code == 422


def test_external_rates_do_not_change_here(client: TestClient, tenant: Tenant, db: Session) -> None:
    external = make_tax_rate(db, tenant.id, "VAT 20", connection=make_connection(db, tenant.id))
    for response in (
        client.patch(f"{URL}/{external.id}", headers=tenant.headers, json={"name": "VAT"}),
        client.delete(f"{URL}/{external.id}", headers=tenant.headers),
    ):
        assert response.status_code == 409
        assert "external rates come from the accounting system and change there" in response.json()["error"]["message"]
    db.expire_all()
    assert db.get(AccountingTaxRate, external.id).name == "VAT 20"  # type: ignore[union-attr]


def test_a_rate_in_use_is_not_deleted(client: TestClient, tenant: Tenant, db: Session) -> None:
    rate = make_tax_rate(db, tenant.id, "Internal")
    counterpart_id = uuid.uuid4()
    client.put(f"/counterparts/{counterpart_id}", headers=tenant.headers, json=counterpart_body())
    body = document_body(counterpart_id, "draft")
    body["line_items"][0] = {
        "description": "Widgets", "quantity": 3, "unit_price": 750, "accounting_tax_rate_id": str(rate.id)
    }
    payable_id = uuid.uuid4()
    assert client.put(f"/payables/{payable_id}", headers=tenant.headers, json=body).status_code == 201
    response = client.delete(f"{URL}/{rate.id}", headers=tenant.headers)
    assert response.status_code == 409 and str(payable_id) in response.json()["error"]["message"]


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_rate_is_404(client: TestClient, tenant: Tenant, method: str) -> None:
    kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "patch" else {}
    response = getattr(client, method)(f"{URL}/{uuid.uuid4()}", headers=tenant.headers, **kwargs)
    assert response.status_code == 404
