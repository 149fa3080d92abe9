"""Pushing bills and invoices: creates, updates of what booksync pushed, lookups of what a lost attempt created,
voids, and finding a document by its key.

A batch's lookups are one query per entity: the documents being updated by ``Id IN (...)`` (for their current
``SyncToken``), the ones marked ``may_exist`` by ``DocNumber IN (...)``, else by party and date, their marker
checked on booksync's side (Intuit cannot filter on ``PrivateNote``). A found document whose marker carries
the push's fingerprint is answered as is; one that differs is updated (sparse, the current ``SyncToken``); a
stale ``SyncToken`` (Fault 5010) is read again once, then the push is a ``DataError``. A voided invoice is not
changed. Void: invoices are voided (``operation=void``); bills, which the API cannot void, are deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import structlog

from providers.errors import DataError, NotFoundError, ProviderError, RetryableError
from providers.quickbooks import mapping, models
from providers.quickbooks.bodies import DocumentBodies, document_error
from providers.quickbooks.client import QuickBooksClient, StaleObject, quote
from providers.quickbooks.mapping import ENTITY, PARTY, PARTY_REF, PartyIds
from providers.quickbooks.reference import ReferenceData
from providers.quickbooks.writes import MAX_BATCH, Op, operation, write
from providers.types import DocumentKind, OutgoingDocument, PushOutcome, PushRequest, PushResult

log = structlog.get_logger(__name__)

MAX_RESULTS = 1000
#: ``IN (...)`` values per lookup query.
LOOKUP_CHUNK = 50


def is_id(value: object) -> bool:
    return isinstance(value, str) and value.isdigit()


class DocumentPusher:
    def __init__(self, client: QuickBooksClient, reference: ReferenceData, bodies: DocumentBodies,
                 read: Callable[[DocumentKind, str], models.Transaction]) -> None:
        self.client = client
        self.reference = reference
        self.bodies = bodies
        self.read = read

    def push(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        for start in range(0, len(requests), MAX_BATCH):
            yield from self._batch(requests[start:start + MAX_BATCH])

    def _batch(self, requests: Sequence[PushRequest[OutgoingDocument]]) -> Iterator[PushOutcome]:
        ready: list[tuple[PushRequest[OutgoingDocument], dict[str, Any]]] = []
        for request in requests:
            try:
                ready.append((request, self.bodies.body(request.item, request.key)))
            except DataError as exc:
                yield PushOutcome(request.key, error=exc)
        if not ready:
            return
        found = self.find([r.item for r, _ in ready if r.may_exist and r.platform_id is None],
                          {r.item.id: r.key for r, _ in ready})
        targets = self.current([(r.item.kind, r.platform_id) for r, _ in ready if r.platform_id])
        ops: list[tuple[PushRequest[OutgoingDocument], Op, bool]] = []
        for request, body in ready:
            kind, entity = request.item.kind, ENTITY[request.item.kind]
            target = targets.get((kind, request.platform_id)) if request.platform_id else found.get(request.key)
            if request.platform_id is not None and target is None:
                yield PushOutcome(request.key, error=NotFoundError(
                    f"QuickBooks Online has no {mapping.label(kind)} {request.platform_id}",
                    details={"platform_id": request.platform_id}))
            elif target is not None and mapping.is_voided(target):
                yield PushOutcome(request.key, error=_voided(kind, target))
            elif target is None:
                ops.append((request, operation(entity, "create", request.key, body), True))
            elif request.platform_id is None and _same_content(target, body, request.key):
                yield PushOutcome(request.key, result=self.result(target, created=False))
            else:
                ops.append((request, _update(entity, target, body, request.key), False))
        if not ops:
            return
        answers = write(self.client, self.client.realm_id, [op for _, op, _ in ops])
        for (request, op, creating), answer in zip(ops, answers, strict=True):
            if isinstance(answer, StaleObject):
                answer = self._retry_stale(request.item.kind, request.key, op)
            if isinstance(answer, RetryableError):
                continue  # no outcome: the engine counts it unanswered and looks the key up next time
            if isinstance(answer, ProviderError):
                yield PushOutcome(request.key, error=document_error(answer, request.item))
                continue
            txn = models.parse(models.Transaction, answer, what=f"{op.operation} {op.entity}")
            log.info("quickbooks.document_pushed", entity=op.entity, id=txn.Id, created=creating)
            yield PushOutcome(request.key, result=self.result(txn, created=creating))

    def _retry_stale(self, kind: DocumentKind, key: str, op: Op) -> Any:
        """A stale ``SyncToken``: read the document again and send the update once more."""
        log.info("quickbooks.stale_sync_token", entity=op.entity, id=op.body.get("Id"))
        try:
            current = self.read(kind, str(op.body["Id"]))
        except NotFoundError as exc:
            return exc
        if mapping.is_voided(current):
            return _voided(kind, current)
        body = {k: v for k, v in op.body.items() if k not in ("Id", "SyncToken", "sparse")}
        (answer,) = write(self.client, self.client.realm_id, [_update(op.entity, current, body, key)])
        if isinstance(answer, StaleObject):
            return DataError(
                f"{mapping.label(kind)} {current.DocNumber or current.Id} keeps changing in QuickBooks Online while "
                "booksync updates it (stale SyncToken twice); it is pushed again at the next sync",
                field="SyncToken", details=answer.details)
        return answer

    def result(self, txn: models.Transaction, *, created: bool) -> PushResult:
        currency = txn.CurrencyRef.value if txn.CurrencyRef else self.reference.company().home_currency
        return PushResult(txn.Id, txn.MetaData.updated.astimezone(dt.UTC), created=created,
                          totals=mapping.totals(txn, currency))

    def void(self, kind: DocumentKind, platform_id: str) -> None:
        txn = self.read(kind, platform_id)
        if mapping.is_voided(txn):
            return
        entity = ENTITY[kind]
        action = "void" if kind is DocumentKind.RECEIVABLE else "delete"
        for attempt in (1, 2):
            body = {"Id": txn.Id, "SyncToken": txn.SyncToken}
            (answer,) = write(self.client, self.client.realm_id, [operation(entity, action, txn.Id, body)])
            if isinstance(answer, StaleObject) and attempt == 1:
                txn = self.read(kind, platform_id)
                continue
            break
        if isinstance(answer, DataError):
            raise DataError(f"{mapping.label(kind)} {txn.DocNumber or txn.Id} cannot be {action}ed in QuickBooks "
                            f"Online: {answer.message}", field="status", details=answer.details) from None
        if isinstance(answer, ProviderError):
            raise answer
        log.info("quickbooks.document_voided", entity=entity, id=txn.Id, operation=action)

    def find_by_key(self, kind: DocumentKind, key: str) -> PushResult | None:
        """Reads the documents newest first until one carries the key's marker."""
        entity = ENTITY[kind]
        start = 1
        while True:
            what = f"query {entity} newest first (from {start})"
            response = self.client.query(
                f"SELECT * FROM {entity} ORDERBY MetaData.CreateTime DESC STARTPOSITION {start} "
                f"MAXRESULTS {MAX_RESULTS}", what=what)
            txns = models.parse_each(models.Transaction, response.get(entity), what=what)
            for txn in txns:
                if key in mapping.keys_in(txn.PrivateNote):
                    return self.result(txn, created=False)
            if len(txns) < MAX_RESULTS:
                return None
            start += MAX_RESULTS

    # -- lookups --------------------------------------------------------------------------------------
    def find(self, documents: Sequence[OutgoingDocument], keys: Mapping[str, str]) -> dict[str, models.Transaction]:
        """Documents earlier pushes created under these documents' keys, by key."""
        found: dict[str, models.Transaction] = {}
        for kind in DocumentKind:
            own = [d for d in documents if d.kind is kind]
            if not own:
                continue
            entity = ENTITY[kind]
            wanted = {keys[d.id] for d in own}
            numbers = sorted({d.document_number for d in own if d.document_number})
            candidates: list[models.Transaction] = []
            for start in range(0, len(numbers), LOOKUP_CHUNK):
                part = numbers[start:start + LOOKUP_CHUNK]
                candidates += self.query(entity, f"DocNumber IN ({', '.join(quote(n) for n in part)})",
                                         f"by number ({len(part)})")
            groups = sorted({(d.counterpart_platform_id, d.issue_date) for d in own if not d.document_number},
                            key=str)
            for counterpart, day in groups:
                party = PartyIds.decode(counterpart, plain=PARTY[kind]).of(PARTY[kind])
                if not party:
                    continue
                on = f"TxnDate = {quote(day.isoformat())}" if day else \
                    f"TxnDate >= {quote((dt.date.today() - dt.timedelta(days=2)).isoformat())}"
                candidates += self.query(entity, f"{PARTY_REF[kind]} = {quote(party)} AND {on}", "by party and date")
            for txn in candidates:
                for key in mapping.keys_in(txn.PrivateNote) & wanted:
                    found.setdefault(key, txn)
        return found

    def current(self, wanted: Sequence[tuple[DocumentKind, str | None]]
                ) -> dict[tuple[DocumentKind, str | None], models.Transaction]:
        """The documents being updated as QuickBooks holds them now (one query per entity)."""
        current: dict[tuple[DocumentKind, str | None], models.Transaction] = {}
        for kind in DocumentKind:
            ids = sorted({str(pid) for k, pid in wanted if k is kind and is_id(pid)}, key=int)
            for start in range(0, len(ids), LOOKUP_CHUNK):
                part = ids[start:start + LOOKUP_CHUNK]
                for txn in self.query(ENTITY[kind], f"Id IN ({', '.join(quote(i) for i in part)})",
                                      f"by id ({len(part)})"):
                    current[(kind, txn.Id)] = txn
        return current

    def query(self, entity: str, where: str, what: str) -> list[models.Transaction]:
        found: list[models.Transaction] = []
        start = 1
        while True:
            label = f"query {entity} {what}"
            response = self.client.query(
                f"SELECT * FROM {entity} WHERE {where} STARTPOSITION {start} MAXRESULTS {MAX_RESULTS}", what=label)
            page = models.parse_each(models.Transaction, response.get(entity), what=label)
            found += page
            if len(page) < MAX_RESULTS:
                return found
            start += MAX_RESULTS


def _update(entity: str, target: models.Transaction, body: dict[str, Any], key: str) -> Op:
    return operation(entity, "update", key, {**body, "Id": target.Id, "SyncToken": target.SyncToken, "sparse": True})


def _voided(kind: DocumentKind, txn: models.Transaction) -> DataError:
    return DataError(f"{mapping.label(kind)} {txn.DocNumber or txn.Id} was voided in QuickBooks Online and cannot be "
                     "changed", field="status", value="void")


def _same_content(found: models.Transaction, body: Mapping[str, Any], key: str) -> bool:
    """Whether a document an earlier attempt created holds what this push sends (its marker's fingerprint)."""
    sent = mapping.tag_in(str(body.get("PrivateNote") or ""), key)
    return sent is not None and mapping.tag_in(found.PrivateNote, key) == sent
