"""Pulling from the local QuickBooks: incremental pages on ``LastUpdatedTime`` (whole seconds), deletions found
through change data capture, and a full reconcile asked for when CDC cannot tell."""

from __future__ import annotations

import datetime as dt

import pytest

from providers.quickbooks import QuickBooksProvider, models, pulls
from providers.quickbooks.mapping import Cursor
from providers.types import Document, DocumentKind, Page
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.conftest_quickbooks import QuickBooksRaw
from tests.providers.quickbooks.support import Books, document, key, line
from tests.support.processes import wait_for

PAYABLE = DocumentKind.PAYABLE


@pytest.fixture(scope="module")
def books(quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw) -> Books:
    return Books(quickbooks_sandbox, quickbooks_raw.new_company("Pull UK Ltd", country="GB", currency="USD"))


def pull(provider: QuickBooksProvider, cursor: str | None, *, lag: float = 0.0) -> tuple[list[Page[Document]], str]:
    pages = list(provider.iter_documents(PAYABLE, cursor, lag_seconds=lag))
    return pages, pages[-1].next_cursor or ""


def ids(pages: list[Page[Document]]) -> list[str]:
    return [d.platform_id for page in pages for d in page.items]


def test_changes_within_one_second_are_read_once_each_and_again_when_changed_again(
    books: Books, quickbooks_raw: QuickBooksRaw
) -> None:
    with books.provider(page_size=2) as provider:
        first, cursor = pull(provider, None)
        assert sorted(ids(first)) == sorted(o["Id"] for o in quickbooks_raw.state(books.realm_id, "Bill"))
        pushed = [provider.push_document(document(PAYABLE, books.vendor(), line(rate=2000)), key(), None,
                                         may_exist=False) for _ in range(3)]
        pages, cursor = pull(provider, cursor)
        assert sorted(ids(pages)) == sorted(p.platform_id for p in pushed), "the same second, across pages"
        assert all(len(page.items) <= 2 for page in pages)
        assert ids(pull(provider, cursor)[0]) == []
        changed = quickbooks_raw.update(books.company, "Bill", pushed[0].platform_id, PrivateNote="again")
        pages, cursor = pull(provider, cursor)
        assert ids(pages) == [pushed[0].platform_id], "a new SyncToken is a new version, whatever the second"
        second = models.parse_time(changed["MetaData"]["LastUpdatedTime"]).timestamp()
        wait_for(lambda: quickbooks_raw.now() >= second + 1, timeout=5, what="the next second at QuickBooks")
        quickbooks_raw.update(books.company, "Bill", pushed[1].platform_id, PrivateNote="a second later")
        pages, cursor = pull(provider, cursor)
        assert ids(pages) == [pushed[1].platform_id]
        lagged, after_lag = pull(provider, cursor, lag=3600)
        assert {pushed[0].platform_id, pushed[2].platform_id} <= set(ids(lagged)), "the lag window reads again"
        before, after = Cursor.decode(cursor), Cursor.decode(after_lag)
        assert (after.mark, set(after.seen)) == (before.mark, set(before.seen)), "and ends where it started"


def test_a_deletion_is_found_through_change_data_capture(books: Books, quickbooks_raw: QuickBooksRaw) -> None:
    with books.provider() as provider:
        _, cursor = pull(provider, None)
        gone = provider.push_document(document(PAYABLE, books.vendor(), line(rate=2000)), key(), None)
        kept = provider.push_document(document(PAYABLE, books.vendor(), line(rate=2000)), key(), None)
        quickbooks_raw.delete(books.company, "Bill", gone.platform_id)
        pages, cursor = pull(provider, cursor)
        assert ids(pages) == [kept.platform_id], "the deleted one is not among the changed"
        assert pages[-1].deleted == [gone.platform_id] and not pages[-1].reconcile
        assert gone.platform_id not in set(provider.iter_document_ids(PAYABLE))
        assert quickbooks_raw.calls(books.realm_id)[-2]["path"].endswith("/cdc"), "one CDC call per pull"


def test_a_connection_away_longer_than_cdc_keeps_deletions_asks_for_a_full_reconcile(books: Books) -> None:
    with books.provider() as provider:
        _, cursor = pull(provider, None)
        state = Cursor.decode(cursor)
        away = Cursor(mark=state.mark, seen=state.seen,
                      cdc=(dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).isoformat())
        pages, cursor = pull(provider, away.encode())
        assert pages[-1].reconcile and not pages[-1].deleted
        pages, _ = pull(provider, cursor)
        assert not pages[-1].reconcile, "the window starts again from now"


def test_a_cdc_answer_as_full_as_an_answer_gets_asks_for_a_full_reconcile(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    with books.provider() as provider:
        _, cursor = pull(provider, None)
        for _ in range(3):
            provider.push_document(document(PAYABLE, books.vendor(), line(rate=2000)), key(), None, may_exist=False)
        monkeypatch.setattr(pulls, "CDC_MAX_OBJECTS", 3)
        pages, _ = pull(provider, cursor)
        assert pages[-1].reconcile, "1,000 objects (here 3) may not be all of them"


def test_every_id_is_listed_in_creation_order_whatever_changes(books: Books, quickbooks_raw: QuickBooksRaw,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulls, "ID_PAGE", 2)
    with books.provider() as provider:
        listed = list(provider.iter_document_ids(PAYABLE))
    assert sorted(listed) == sorted(o["Id"] for o in quickbooks_raw.state(books.realm_id, "Bill"))
    assert len(listed) == len(set(listed))
