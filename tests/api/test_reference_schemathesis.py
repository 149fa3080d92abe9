"""A running booksync holding a real Tryton sync answers as the reference says: schemathesis generates the
requests from the *reference* document (its paths and entity header mapped to booksync's), and every
answer is checked against the reference's response schemas. A sweep then reads every object of every
kind and validates each body with the reference's JSON schemas, formats included."""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.fuzzing import by_operation
from tests.support.reference_contract import HEADERS, load_extensions, load_reference, our_path, with_listed_values
from tests.support.synced_api import SyncedBooksync, seed_connection, seed_synced, serve_api

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25


def reference_for_booksync() -> dict[str, Any]:
    """The reference document with booksync's paths (``-`` for ``_``) and entity header, its enums taking the
    values docs/api-extensions.md lists."""
    document = with_listed_values(load_reference(), load_extensions())
    paths = {}
    for path, item in document["paths"].items():
        item = copy.deepcopy(item)
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "header":
                    parameter["name"] = HEADERS.get(parameter["name"], parameter["name"])
        paths[our_path(path)] = item
    document["paths"] = paths
    return document


REFERENCE = reference_for_booksync()
schema = schemathesis.openapi.from_dict(REFERENCE)


def _purge_task_queue(redis_url: str) -> None:
    """Syncs, pushes and disconnects the fuzzing queued: nobody consumes them here, and no later worker may."""
    import redis

    from worker.config import DEFAULT_QUEUE
    from worker.metrics import redis_queue_keys

    client = redis.Redis.from_url(redis_url)
    client.delete(*redis_queue_keys(DEFAULT_QUEUE))
    client.close()


@pytest.fixture(scope="module")
def synced(
    postgres_url: str, redis_url: str, tryton_sandbox: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SyncedBooksync]:
    from tests.support.databases import empty_all_tables, migrated_engine
    from tests.support.env import booksync_env

    engine = migrated_engine(postgres_url)
    empty_all_tables(engine)
    url = engine.url.render_as_string(hide_password=False)
    home = os.environ["BOOKSYNC_HOME"]
    log = tmp_path_factory.mktemp("reference-api") / "api.log"
    with booksync_env(database_url=url, home=home, broker_url=redis_url):
        with serve_api({"BOOKSYNC_DATABASE_URL": url, "BOOKSYNC_BROKER_URL": redis_url, "BOOKSYNC_HOME": home}, log) as base:
            try:
                yield seed_synced(base, tryton_sandbox)
            finally:
                _purge_task_queue(redis_url)
    engine.dispose()


def _reconnect(synced: SyncedBooksync) -> None:
    """Undo a fuzzed disconnect, so that later cases still see the books."""
    from sqlalchemy import update

    from models import AccountingConnection
    from models.db import get_sessionmaker

    with get_sessionmaker()() as session:
        session.execute(update(AccountingConnection).where(AccountingConnection.id == synced.connection_id)
                        .values(status="connected"))
        session.commit()


@by_operation(schema)
@given(data=st.data())
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_to_a_reference_request_is_as_the_reference_says(operation: Any, data: st.DataObject, synced: SyncedBooksync) -> None:
    case = data.draw(operation.as_strategy())
    case.headers = {**(case.headers or {}), **synced.headers}
    for name in list(case.path_parameters or {}):
        if synced.ids.get(name) and random.random() < 0.7:
            case.path_parameters[name] = random.choice(synced.ids[name])
    try:
        case.call_and_validate(base_url=synced.base_url, checks=[not_a_server_error, response_schema_conformance])
    finally:
        if case.path.endswith("/disconnect"):
            _reconnect(synced)


# -- every object, validated with the reference's JSON schemas -----------------------------------


def _validator(name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": REFERENCE["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _valid(response: httpx.Response, name: str) -> Any:
    assert response.status_code == 200, f"{response.request.url}: {response.text}"
    assert "null" not in response.text.replace('"null"', ""), f"{response.request.url}: a null in {response.text}"
    body = response.json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator(name).iter_errors(body)]
    assert not errors, f"{response.request.url} is not the reference's {name}: {errors}"
    return body


def _walk(api: httpx.Client, path: str, name: str, **params: Any) -> list[dict[str, Any]]:
    """Every page, by the tokens alone (the reference's semantics: nothing but limit beside a token)."""
    body = _valid(api.get(path, params={**params, "limit": 2}), name)
    items = list(body["data"])
    while "next_pagination_token" in body:
        body = _valid(api.get(path, params={"limit": 2, "pagination_token": body["next_pagination_token"]}), name)
        items += body["data"]
    return items


def test_every_object_booksync_serves_is_the_references(synced: SyncedBooksync) -> None:
    with httpx.Client(base_url=synced.base_url, headers=synced.headers, timeout=30) as api:
        connections = _valid(api.get("/accounting-connections"), "AccountingConnectionList")["data"]
        for connection in connections:
            _valid(api.get(f"/accounting-connections/{connection['id']}"), "AccountingConnectionResponse")
        assert connections[0]["business_info"]["name"] and connections[0]["last_pull"]
        for object_type in ("bill", "receivable", "vendor", "customer", "product", "payment_record"):
            for record in _walk(api, "/accounting-synced-records", "SyncRecordResourceList", object_type=object_type):
                assert record["object_type"] == object_type
                _valid(api.get(f"/accounting-synced-records/{record['id']}"), "SyncRecordResource")
        rates = _walk(api, "/accounting-tax-rates", "AccountingTaxRateListResponse")
        assert {rate["is_external"] for rate in rates} == {True, False}
        for rate in rates:
            _valid(api.get(f"/accounting-tax-rates/{rate['id']}"), "AccountingTaxRateResponse")
        accounts = _walk(api, "/ledger-accounts", "LedgerAccountListResponse")
        assert len(accounts) == len(synced.ids["ledger_account_id"]) > 50
        for account in accounts[:20]:
            _valid(api.get(f"/ledger-accounts/{account['id']}"), "LedgerAccountResponse")
        ledger_ids, rate_ids = {a["id"] for a in accounts}, {r["id"] for r in rates}
        for path, kind, one in (("/accounting/payables", "AccountingPayableList", "AccountingPayable"),
                                ("/accounting/receivables", "AccountingReceivableList", "AccountingReceivable")):
            documents = _valid(api.get(path, params={"limit": 500}), kind)["data"]
            assert len(documents) >= 4
            for document in documents:
                _valid(api.get(f"{path}/{document['id']}"), one)
                for line in document["lines"]:
                    assert line.get("ledger_account_id") in ledger_ids, line
                    if "tax_rate_ref" in line:
                        assert line["tax_rate_ref"]["id"] in rate_ids, line


def test_amounts_are_the_currencys_exact_numbers(synced: SyncedBooksync) -> None:
    """Bills pushed in minor units come back from Tryton as numbers in their currency, with its digits."""
    with httpx.Client(base_url=synced.base_url, headers=synced.headers, timeout=30) as api:
        response = api.get("/accounting/payables", params={"limit": 500})
    exact = json.loads(response.text, parse_float=Decimal, parse_int=Decimal)["data"]
    by_number = {doc.get("invoice_number"): doc for doc in exact}
    expected = {"USD": ("144.00", "1"), "JPY": ("1200", "0.006666666667"), "KWD": ("1.481", "3.257328990228"),
                "EUR": ("120.00", "1.086956521739")}
    for index, (currency, (total, rate)) in enumerate(expected.items()):
        document = by_number[f"CONF-pay-{currency}-{index}"]
        assert (document["currency"], document["total_amount"], document["currency_rate"]) == (
            currency, Decimal(total), Decimal(rate))
        assert f'"total_amount":{total},' in response.text


def test_external_tax_rates_are_not_updated_before_they_were_created(
    synced: SyncedBooksync, tryton_sandbox: Any
) -> None:
    """After their first pull (a second organization on the same Tryton, so its rates are new rows)."""
    from datetime import datetime

    fresh = seed_connection(synced.base_url, tryton_sandbox)
    with httpx.Client(base_url=synced.base_url, headers=fresh, timeout=30) as api:
        rates = api.get("/accounting-tax-rates", params={"is_external": True}).json()["data"]
    assert rates
    for rate in rates:
        assert datetime.fromisoformat(rate["created_at"]) <= datetime.fromisoformat(rate["updated_at"]), rate
