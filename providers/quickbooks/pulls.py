"""Pulling bills and invoices: changes through the query endpoint on ``MetaData.LastUpdatedTime``, deletions through
change data capture, every id in ``MetaData.CreateTime`` order.

Changes: ``SELECT * FROM Bill WHERE MetaData.LastUpdatedTime >= <mark> ORDERBY MetaData.LastUpdatedTime
STARTPOSITION 1 MAXRESULTS <n>``, page after page from the last record read (``mapping.Cursor``: QuickBooks
stamps to the second, so the versions read in the last second are remembered and skipped, never the second
itself), the first page of an incremental pull ``lag_seconds`` before the mark. Paging from the last record
rather than by ``STARTPOSITION`` means a record changed during the pull (it moves to the end) shifts no other
out of reach.

Deletions: after an incremental pull, ``GET /cdc?entities=Bill&changedSince=<last check - lag>`` (Intuit's
change data capture: deleted objects come as ``{"status": "Deleted", "Id": ...}``). CDC looks 30 days back at
most and answers 1,000 objects at most; checking at every sync keeps the window short, and a connection away for
longer than the window, or an answer as full as one gets, asks the engine for a full reconcile
(``Page.reconcile``: ``iter_document_ids``) instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import structlog

from providers.errors import ProviderError
from providers.quickbooks import models
from providers.quickbooks.client import QuickBooksClient, quote
from providers.quickbooks.mapping import ENTITY, Cursor, KeysetState
from providers.types import Document, DocumentKind, Page

log = structlog.get_logger(__name__)

MAX_RESULTS = 1000
ID_PAGE = 500
#: Intuit's change data capture looks 30 days back at most and answers 1,000 objects at most.
CDC_DAYS = 30
CDC_MAX_OBJECTS = 1000
#: Asking CDC for a window this close to its 30 days risks the server's clock being ahead of the answer's.
CDC_MARGIN = dt.timedelta(hours=1)

Documents = Callable[[DocumentKind, Sequence[models.Transaction]], list[Document]]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


class _Stamped(models.QBModel):
    Id: str
    MetaData: models.Meta


class Puller:
    def __init__(self, client: QuickBooksClient, page_size: int, documents: Documents) -> None:
        self.client = client
        self.page_size = page_size
        self.documents = documents

    def changes(self, kind: DocumentKind, state: Cursor, lag_seconds: float) -> Iterator[Page[Document]]:
        entity = ENTITY[kind]
        incremental = state.mark is not None
        since = state.mark
        if incremental and lag_seconds:
            since = iso(models.parse_time(state.mark or "") - dt.timedelta(seconds=lag_seconds))
        cdc, current = state.cdc, state
        while True:
            size = min(MAX_RESULTS, self.page_size + len(current.seen))
            where = f" WHERE MetaData.LastUpdatedTime >= {quote(since)}" if since else ""
            what = f"query {entity} changed since {since or 'ever'}"
            response = self.client.query(
                f"SELECT * FROM {entity}{where} ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS {size}",
                what=what)
            if cdc is None and self.client.server_time is not None:
                cdc = iso(self.client.server_time)  # a first pull: deletions are asked for from now on
            txns = models.parse_each(models.Transaction, response.get(entity), what=what)
            txns.sort(key=lambda t: t.MetaData.updated)
            unread = [t for t in txns if not current.skips(t.Id, t.SyncToken, t.MetaData.LastUpdatedTime)]
            fresh = unread[: self.page_size]  # more come when records of the last second were skipped
            finished = len(txns) < size and len(unread) == len(fresh)
            if not fresh and not finished:
                raise ProviderError(f"more than {size} QuickBooks Online {entity}s share one LastUpdatedTime; "
                                    "booksync cannot page through them", details={"entity": entity})
            current = current.after([(t.Id, t.SyncToken, t.MetaData.LastUpdatedTime) for t in fresh])
            if fresh or (finished and not incremental):
                yield Page(items=self.documents(kind, fresh), next_cursor=replace(current, cdc=cdc).encode())
            if finished:
                break
            since = current.mark
        if incremental:
            yield self.deletions(kind, replace(current, cdc=cdc), lag_seconds)

    def deletions(self, kind: DocumentKind, cursor: Cursor, lag_seconds: float) -> Page[Document]:
        entity = ENTITY[kind]
        now = self.client.server_time or dt.datetime.now(dt.UTC)
        oldest = now - dt.timedelta(days=CDC_DAYS) + CDC_MARGIN
        since = models.parse_time(cursor.cdc) if cursor.cdc else None
        if since is None or since < oldest:
            log.info("quickbooks.cdc_window_passed", entity=entity, since=cursor.cdc)
            return Page(items=[], next_cursor=replace(cursor, cdc=iso(now)).encode(), reconcile=True)
        start = max(since - dt.timedelta(seconds=lag_seconds), oldest)
        what = f"CDC {entity} since {iso(start)}"
        answer = self.client.call("GET", "/cdc", what=what, params={"entities": entity, "changedSince": iso(start)})
        objects = _cdc_objects(answer, entity, what=what)
        deleted = sorted({o.Id for o in objects if (o.status or "").lower() == "deleted"})
        full = len(objects) >= CDC_MAX_OBJECTS
        if full:
            log.info("quickbooks.cdc_answer_full", entity=entity, objects=len(objects))
        done = self.client.server_time or now
        return Page(items=[], next_cursor=replace(cursor, cdc=iso(done)).encode(), deleted=deleted, reconcile=full)

    def ids(self, kind: DocumentKind) -> Iterator[str]:
        """Every id, read in ``MetaData.CreateTime`` order (a time that never changes), so a document deleted or
        created meanwhile moves no other out of the listing."""
        entity = ENTITY[kind]
        state = KeysetState()
        while True:
            size = min(MAX_RESULTS, ID_PAGE + len(state.seen))
            where = f" WHERE MetaData.CreateTime >= {quote(state.since)}" if state.since else ""
            what = f"query {entity} ids created since {state.since or 'ever'}"
            response = self.client.query(
                f"SELECT * FROM {entity}{where} ORDERBY MetaData.CreateTime STARTPOSITION 1 MAXRESULTS {size}",
                what=what)
            stamped = models.parse_each(_Stamped, response.get(entity), what=what)
            created = sorted(((s.Id, s.MetaData.CreateTime or s.MetaData.LastUpdatedTime) for s in stamped),
                             key=lambda pair: models.parse_time(pair[1]))
            new = [(record_id, stamp) for record_id, stamp in created
                   if not (state.since is not None and record_id in state.seen
                           and models.parse_time(stamp) == models.parse_time(state.since))]
            yield from (record_id for record_id, _ in new)
            state.advance(new)
            if len(stamped) < size:
                return
            if not new:
                raise ProviderError(f"more than {size} QuickBooks Online {entity}s share one CreateTime; booksync "
                                    "cannot list them", details={"entity": entity})


def _cdc_objects(answer: Any, entity: str, *, what: str) -> list[models.Deleted]:
    """The objects of ``entity`` a CDC answer reports (changed or deleted)."""
    responses = models.member(answer, "CDCResponse", what=what)
    if not isinstance(responses, list):
        raise ProviderError(f"QuickBooks Online's answer to {what} has no CDCResponse list", details={"answer": what})
    objects: list[models.Deleted] = []
    for response in responses:
        queries = models.member(response, "QueryResponse", what=what) or []
        if not isinstance(queries, list):
            raise ProviderError(f"QuickBooks Online's answer to {what} has a QueryResponse that is not a list",
                                details={"answer": what})
        for query in queries:
            objects += models.parse_each(models.Deleted, models.member(query, entity, what=what), what=what)
    return objects
