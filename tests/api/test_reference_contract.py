"""booksync's OpenAPI document holds to the reference it mirrors; the only differences are those
``docs/api-extensions.md`` lists (tests.support.reference_contract says what is compared)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.reference_contract import divergences, load_extensions, load_reference, our_path


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    from api.app import create_app

    return create_app().openapi()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return load_reference()


@pytest.fixture(scope="module")
def extensions() -> set[str]:
    return load_extensions()


def test_the_vendored_reference_has_its_sixteen_operations(reference: dict[str, Any]) -> None:
    operations = [(path, method) for path, item in reference["paths"].items() for method in item]
    assert len(operations) == 16
    assert our_path("/accounting_synced_records/{synced_record_id}/push") == (
        "/accounting-synced-records/{synced_record_id}/push"
    )


def test_booksync_differs_from_the_reference_only_where_the_extensions_list_says(
    reference: dict[str, Any], ours: dict[str, Any], extensions: set[str]
) -> None:
    problems = divergences(reference, ours, extensions)
    assert not problems, "\n".join(problems)


# -- the check itself: what it catches (on copies of booksync's document) ----------------------


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def _problems(reference: dict[str, Any], ours: dict[str, Any], extensions: set[str], change: Any) -> list[str]:
    changed = copy.deepcopy(ours)
    change(changed)
    return divergences(reference, changed, extensions)


def test_a_reference_field_removed_from_booksync_is_caught(
    reference: dict[str, Any], ours: dict[str, Any], extensions: set[str]
) -> None:
    def remove_memo(document: dict[str, Any]) -> None:
        del _schema(document, "AccountingPayable")["properties"]["memo"]

    assert "GET /accounting/payables/{payable_id} 200.memo: missing in booksync (AccountingPayable.memo)" in (
        _problems(reference, ours, extensions, remove_memo)
    )


def test_a_reference_field_retyped_in_booksync_is_caught(
    reference: dict[str, Any], ours: dict[str, Any], extensions: set[str]
) -> None:
    def minor_units(document: dict[str, Any]) -> None:
        _schema(document, "AccountingPayable")["properties"]["total_amount"] = {"type": "integer"}

    def not_a_uuid(document: dict[str, Any]) -> None:
        del _schema(document, "SyncedRecordResource")["properties"]["object_id"]["format"]

    assert "GET /accounting/payables/{payable_id} 200.total_amount: booksync's type is integer, the reference's number" in (
        _problems(reference, ours, extensions, minor_units)
    )
    assert "GET /accounting-synced-records/{synced_record_id} 200.object_id: booksync's format is None, the " \
        "reference's uuid" in _problems(reference, ours, extensions, not_a_uuid)


def test_a_nullable_or_optional_field_where_the_reference_has_neither_is_caught(
    reference: dict[str, Any], ours: dict[str, Any], extensions: set[str]
) -> None:
    def nullable(document: dict[str, Any]) -> None:
        properties = _schema(document, "ConnectionResource")["properties"]
        properties["last_pull"] = {"anyOf": [properties["last_pull"], {"type": "null"}]}

    def optional(document: dict[str, Any]) -> None:
        _schema(document, "ConnectionResource")["required"].remove("connection_url")

    assert "GET /accounting-connections/{connection_id} 200.last_pull: may be null in booksync, never in the " \
        "reference" in _problems(reference, ours, extensions, nullable)
    assert "GET /accounting-connections/{connection_id} 200.connection_url: required by the reference, optional " \
        "in booksync" in _problems(reference, ours, extensions, optional)


def test_enum_values_parameters_and_operations_beyond_the_list_are_caught(
    reference: dict[str, Any], ours: dict[str, Any], extensions: set[str]
) -> None:
    def tax_rate_object_type(document: dict[str, Any]) -> None:
        _schema(document, "ObjectMatchType")["enum"].append("tax_rate")

    def new_parameter(document: dict[str, Any]) -> None:
        operation = document["paths"]["/ledger-accounts"]["get"]
        operation["parameters"].append({"name": "colour", "in": "query", "schema": {"type": "string"}})

    def narrower_limit(document: dict[str, Any]) -> None:
        operation = document["paths"]["/accounting/payables"]["get"]
        next(p for p in operation["parameters"] if p["name"] == "limit")["schema"]["maximum"] = 100

    problems = _problems(reference, ours, extensions, tax_rate_object_type)
    assert any("booksync sends 'tax_rate'" in p for p in problems)
    assert any("booksync accepts 'tax_rate'" in p for p in problems)
    assert any("'colour'" in p for p in _problems(reference, ours, extensions, new_parameter))
    assert any("booksync's maximum is 100, the reference allows 500" in p
               for p in _problems(reference, ours, extensions, narrower_limit))
    problems = divergences(reference, ours, extensions - {"GET /counterparts"})
    assert problems == ["GET /counterparts: booksync has an operation the reference has not (not in "
                        "docs/api-extensions.md as `GET /counterparts`)"]


def test_an_entry_that_is_no_longer_a_difference_is_caught(
    reference: dict[str, Any], ours: dict[str, Any], extensions: set[str]
) -> None:
    assert divergences(reference, ours, extensions | {"AccountingPayable.colour"}) == [
        "docs/api-extensions.md lists `AccountingPayable.colour`, which is no longer a difference"
    ]
