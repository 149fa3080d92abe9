"""The probes the deployments use: /healthz (the process answers) and /readyz (database at its schema, broker)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.env import booksync_env

DOWN_DATABASE = "postgresql+psycopg://booksync:db-secret-pw@127.0.0.1:9/booksync"
DOWN_BROKER = "redis://:redis-secret-pw@127.0.0.1:9/0"


@pytest.fixture
def client() -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def test_healthz_answers_without_the_database(client: TestClient) -> None:
    with booksync_env(database_url=DOWN_DATABASE, broker_url=DOWN_BROKER, home=os.environ["BOOKSYNC_HOME"]):
        response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_200_when_the_database_and_the_broker_answer(client: TestClient, pg_url: str, redis_url: str) -> None:
    with booksync_env(database_url=pg_url, broker_url=redis_url, home=os.environ["BOOKSYNC_HOME"]):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_is_200_on_the_embedded_default(client: TestClient, tmp_path: Path) -> None:
    from models.migrate import upgrade

    url = f"sqlite:///{tmp_path}/booksync.db"
    upgrade(url)
    with booksync_env(database_url=url, home=str(tmp_path)):
        assert client.get("/readyz").status_code == 200


def test_readyz_is_503_naming_the_broker_when_it_is_down(client: TestClient, pg_url: str) -> None:
    with booksync_env(database_url=pg_url, broker_url=DOWN_BROKER, home=os.environ["BOOKSYNC_HOME"]):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down: ")
    assert body["error"]["message"].startswith("broker is down (")
    assert "redis-secret-pw" not in response.text


def test_readyz_is_503_naming_the_database_when_it_is_down(client: TestClient, redis_url: str) -> None:
    with booksync_env(database_url=DOWN_DATABASE, broker_url=redis_url, home=os.environ["BOOKSYNC_HOME"]):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["database"].startswith("down: ") and body["checks"]["broker"] == "ok"
    assert body["error"]["message"].startswith("database is down (")
    assert "db-secret-pw" not in response.text


def test_readyz_is_503_until_the_schema_is_upgraded(client: TestClient, tmp_path: Path, redis_url: str) -> None:
    with booksync_env(database_url=f"sqlite:///{tmp_path}/empty.db", broker_url=redis_url, home=str(tmp_path)):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "schema at revision none" in response.json()["checks"]["database"]
    assert "run: booksync db upgrade" in response.json()["error"]["message"]


def test_the_probes_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)
