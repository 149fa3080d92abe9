"""What every route shares: the error shape, body limits, unknown fields, the OpenAPI document."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from fastapi.testclient import TestClient

from tests.api.conftest import Tenant


def test_unknown_route_is_404_in_the_error_shape(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/nowhere", headers=tenant.headers)
    assert response.status_code == 404 and response.json() == {"error": {"message": "Not Found"}}


def test_wrong_method_is_405_in_the_error_shape_allowing_every_method_of_the_path(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.delete("/accounting-connections", headers=tenant.headers)
    assert response.status_code == 405 and set(response.json()) == {"error"}
    assert response.headers["Allow"] == "GET, POST"
    one = client.put(f"/accounting-tax-rates/{uuid.uuid4()}", headers=tenant.headers)
    assert one.headers["Allow"] == "DELETE, GET, PATCH"


def test_a_422_carries_the_references_detail_list_beside_the_error(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/accounting-synced-records?object_type=tax_rate&limit=0", headers=tenant.headers)
    assert response.status_code == 422
    body = response.json()
    assert [(item["loc"], item["type"]) for item in body["detail"]] == [
        (["query", "object_type"], "enum"), (["query", "limit"], "greater_than_equal")]
    assert all(item["msg"] for item in body["detail"])
    assert body["error"]["message"].startswith("object_type: ")
    ours = client.get("/accounting-synced-records?pagination_token=forged", headers=tenant.headers).json()
    assert ours["detail"] == [{"loc": ["query", "pagination_token"], "msg": ours["error"]["details"][0]["message"],
                               "type": "value_error"}]


def test_invalid_json_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/accounting-tax-rates", headers={**tenant.headers, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("body: is not valid JSON")


def test_missing_body_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/accounting-tax-rates", headers=tenant.headers)
    assert response.status_code == 422 and response.json()["error"]["message"] == "body: field required"


def test_a_body_that_is_not_an_object_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/accounting-tax-rates", headers=tenant.headers, json=[1, 2])
    assert response.status_code == 422 and response.json()["error"]["message"].startswith("body: ")


def test_unknown_fields_are_refused_with_every_error_listed(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/accounting-tax-rates", headers=tenant.headers, json={"name": "x", "effective_tax_rate": 1, "a": 1, "b": 2}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"field": "a", "message": "unknown field"},
        {"field": "b", "message": "unknown field"},
    ]


def test_a_declared_oversized_body_is_413(client: TestClient, tenant: Tenant) -> None:
    from config import get_settings

    limit = get_settings().api_max_body_bytes
    body = b'{"name": "' + b"x" * limit + b'", "effective_tax_rate": 1}'
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = client.post("/accounting-tax-rates", headers=headers, content=body)
    assert response.status_code == 413
    assert response.json() == {"error": {"message": f"request body larger than {limit} bytes"}}


def test_a_chunked_oversized_body_is_413(client: TestClient, tenant: Tenant) -> None:
    from config import get_settings

    limit = get_settings().api_max_body_bytes

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = client.put(f"/counterparts/{uuid.uuid4()}", headers=headers, content=chunks())
    assert response.status_code == 413


def test_a_body_within_the_limit_passes(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/accounting-tax-rates", headers=tenant.headers, json={"name": "x" * 255, "effective_tax_rate": 1}
    )
    assert response.status_code == 201


def test_the_openapi_document_declares_the_error_shape_for_every_error(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert len(operations) >= 31
    assert len({op["operationId"] for _, _, op in operations}) == len(operations)
    for path, method, operation in operations:
        assert operation.get("security") == [{"HTTPBearer": []}], (path, method)
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                expected = "ValidationErrorResponse" if status == "422" else "ErrorResponse"
                assert schema == {"$ref": f"#/components/schemas/{expected}"}, (path, method, status)
        for code in ("401", "422"):
            assert code in operation["responses"], (path, method, code)
        if "requestBody" in operation:
            assert "413" in operation["responses"], (path, method)
    # webhooks: without the header, a platform-wide key acts on platform-wide subscriptions
    scoped = [op for path, _, op in operations if not path.startswith(("/organizations", "/webhook-"))]
    for operation in scoped:
        header = [p for p in operation["parameters"] if p["in"] == "header"]
        assert header and header[0]["name"] == "X-Organization-Id" and header[0]["required"] is True


def test_request_schemas_refuse_unknown_fields(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ConnectionCreate", "CounterpartIn", "PayableIn", "ReceivableIn", "LineItemIn", "TaxRateCreate",
                 "TaxRateUpdate", "OrganizationPut", "TaxComponent"):
        assert schemas[name]["additionalProperties"] is False, name
