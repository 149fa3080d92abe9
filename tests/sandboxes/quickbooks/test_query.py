"""The query subset: what parses, what it selects, and the Faults for what Intuit's language does not allow."""

from __future__ import annotations

from typing import Any

import pytest

from sandboxes.quickbooks import query
from sandboxes.quickbooks.faults import QuickBooksFault

QUERYABLE = frozenset({"id", "docnumber", "displayname", "active", "metadata.lastupdatedtime", "totalamt", "customerref"})


def _invoice(number: int, updated: str, total: float, active: bool = True) -> dict[str, Any]:
    return {"Id": str(number), "DocNumber": f"INV-{number}", "TotalAmt": total, "Active": active,
            "CustomerRef": {"value": str(number % 2)}, "MetaData": {"LastUpdatedTime": updated}}


ROWS = [_invoice(n, f"2026-01-{n:02d}T10:00:00-08:00", n * 10.5) for n in range(1, 11)]


def _run(text: str, rows: list[dict[str, Any]] = ROWS, has_active: bool = False) -> Any:
    return query.run(query.parse(text), rows, QUERYABLE, has_active)


def test_where_with_each_operator_and_and() -> None:
    assert [r["Id"] for r in _run("SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime > '2026-01-08T10:00:00-08:00'")] == ["9", "10"]
    assert [r["Id"] for r in _run("select * from Invoice where Metadata.LastUpdatedTime >= '2026-01-09T18:00:00Z'")] == ["9", "10"]
    assert [r["Id"] for r in _run("SELECT * FROM Invoice WHERE TotalAmt <= '21' AND Id >= '2'")] == ["2"]
    assert [r["Id"] for r in _run("SELECT * FROM Invoice WHERE Id IN ('3', '7', '12')")] == ["3", "7"]
    assert [r["Id"] for r in _run("SELECT * FROM Invoice WHERE DocNumber LIKE 'INV-1%'")] == ["1", "10"]
    assert [r["Id"] for r in _run("SELECT * FROM Invoice WHERE CustomerRef = '0' AND TotalAmt < '50'")] == ["2", "4"]
    assert _run("SELECT COUNT(*) FROM Invoice WHERE TotalAmt > '50'") == 6


def test_orderby_startposition_and_maxresults_page() -> None:
    text = "SELECT * FROM Invoice ORDERBY TotalAmt DESC STARTPOSITION 3 MAXRESULTS 4"
    assert [r["Id"] for r in _run(text)] == ["8", "7", "6", "5"]
    assert len(_run("SELECT * FROM Invoice")) == 10
    assert query.parse("SELECT * FROM Invoice MAXRESULTS 5000").max_results == 1000
    assert query.parse("SELECT * FROM Invoice").max_results == 100


def test_list_entities_answer_active_objects_unless_asked() -> None:
    rows = ROWS[:3] + [_invoice(4, "2026-01-04T10:00:00-08:00", 1, active=False)]
    assert len(_run("SELECT * FROM Customer", rows, has_active=True)) == 3
    assert len(_run("SELECT * FROM Customer WHERE Active IN (true, false)", rows, has_active=True)) == 4
    assert [r["Id"] for r in _run("SELECT * FROM Customer WHERE Active = false", rows, has_active=True)] == ["4"]


def test_projection_keeps_the_named_fields() -> None:
    first = _run("SELECT Id, DocNumber FROM Invoice MAXRESULTS 1")[0]
    assert set(first) == {"Id", "DocNumber", "MetaData"}


@pytest.mark.parametrize("text", [
    "SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'",
    "SELECT * FROM Invoice WHERE Id != '1'",
    "SELECT * FROM Invoice WHERE (Id = '1')",
    "SELECT * Invoice",
    "DELETE FROM Invoice",
    "SELECT * FROM Invoice WHERE Id =",
    "SELECT * FROM Invoice MAXRESULTS ten",
    "",
])
def test_outside_the_subset_is_a_query_parser_error(text: str) -> None:
    with pytest.raises(QuickBooksFault) as caught:
        _run(text)
    assert caught.value.errors[0].code == "4000"
    assert caught.value.errors[0].detail.startswith("QueryParserError")


def test_a_property_that_is_not_queryable_is_a_validation_error() -> None:
    with pytest.raises(QuickBooksFault) as caught:
        _run("SELECT * FROM Invoice WHERE PrivateNote = 'x'")
    assert caught.value.errors[0].code == "4001"


def test_order_by_may_be_one_word_or_two() -> None:
    assert [r["Id"] for r in _run("SELECT * FROM Invoice ORDER BY Id DESC MAXRESULTS 2")] == ["10", "9"]
    assert [r["Id"] for r in _run("SELECT * FROM Invoice ORDERBY Id ASC MAXRESULTS 2")] == ["1", "2"]
    with pytest.raises(QuickBooksFault):
        _run("SELECT * FROM Invoice ORDER Id")
