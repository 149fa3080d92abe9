"""Pushing counterparts: QuickBooks keeps vendors and customers in two lists, with display names unique across both.

A counterpart that is both is two objects: one under its name, the other with its role after it
("<name> (vendor)"; made together, the customer keeps the plain name; one added later to an existing one takes
the suffix). Its platform id names both, ``vendor:12,customer:34`` (``mapping.PartyIds``).

Each is found by ``DisplayName`` (filterable) and its ``Notes`` ending with ``[booksync:<key>]``: one carrying
the key is the counterpart's; one with exactly the name and no booksync marker is adopted (the marker is added);
one with the name and another key's marker is a clash (a ``DataError``). The writes of a batch (creates, sparse
updates with the current ``SyncToken``) are one ``/batch`` call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import structlog

from providers.errors import DataError, NotFoundError, ProviderError, RetryableError
from providers.quickbooks import mapping, models
from providers.quickbooks.client import QuickBooksClient, quote
from providers.quickbooks.mapping import PartyIds
from providers.quickbooks.writes import MAX_BATCH, Op, operation, write
from providers.types import OutgoingCounterpart, PushOutcome, PushRequest, PushResult

log = structlog.get_logger(__name__)

MAX_RESULTS = 1000
LOOKUP_CHUNK = 50
DISPLAY_NAME_MAX = 500
#: Fault code of a name another customer, vendor or employee already has.
DUPLICATE_NAME = "6240"
ENTITIES = ("Vendor", "Customer")

Plan = tuple[PushRequest[OutgoingCounterpart], list[str], PartyIds]


class PartyPusher:
    def __init__(self, client: QuickBooksClient) -> None:
        self.client = client

    def push(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        half = MAX_BATCH // 2  # a counterpart is at most two writes (its vendor and its customer)
        for start in range(0, len(requests), half):
            yield from self._batch(requests[start:start + half])

    def _batch(self, requests: Sequence[PushRequest[OutgoingCounterpart]]) -> Iterator[PushOutcome]:
        plans: list[Plan] = []
        for request in requests:
            name = request.item.name.strip()
            if not name or ":" in name or len(name) > DISPLAY_NAME_MAX - len(" (customer)"):
                yield PushOutcome(request.key, error=DataError(
                    "QuickBooks Online display names must be 1 to 489 characters without ':'", field="name",
                    value=request.item.name))
                continue
            roles = [e for e, wanted in zip(ENTITIES, (request.item.is_vendor, request.item.is_customer), strict=True)
                     if wanted] or ["Customer"]
            plans.append((request, roles, PartyIds.decode(request.platform_id or "", plain=roles[0])))
        if not plans:
            return
        by_id, by_name = self._by_id(plans), self._by_name(plans)
        ops: list[tuple[int, str, Op]] = []
        results: dict[int, dict[str, models.Party]] = {index: {} for index in range(len(plans))}
        errors: dict[int, ProviderError] = {}
        for index, (request, roles, known) in enumerate(plans):
            counterpart, key = request.item, request.key
            entities = set(roles) | {e for e in ENTITIES if known.of(e)}
            for entity in (e for e in ENTITIES if e in entities):
                other = "Customer" if entity == "Vendor" else "Vendor"
                suffixed = bool(known.of(other)) or (other in entities and entity == "Vendor")
                existing = known.of(entity)
                current = by_id.get((entity, existing)) if existing else None
                if existing and current is None:
                    errors[index] = NotFoundError(f"QuickBooks Online has no {entity.lower()} {existing}",
                                                  details={"platform_id": request.platform_id})
                    break
                if current is None:
                    ours, adoptable, clash = _match(by_name[entity], entity, counterpart.name, key, suffixed)
                    if clash is not None:
                        errors[index] = DataError(
                            f"QuickBooks Online already has a {entity.lower()} named {clash.DisplayName!r} that "
                            "booksync pushed for another counterpart; QuickBooks wants display names unique",
                            field="name", value=counterpart.name)
                        break
                    if ours is not None:
                        results[index][entity] = ours
                        continue
                    current = adoptable
                body = _body(counterpart, key, entity, suffixed, current)
                if current is None:
                    ops.append((index, entity, operation(entity, "create", key, body)))
                else:
                    update = {**body, "Id": current.Id, "SyncToken": current.SyncToken, "sparse": True}
                    ops.append((index, entity, operation(entity, "update", key, update)))
        created: dict[int, bool] = {}
        for (index, entity, op), answer in zip(ops, write(self.client, self.client.realm_id, [o for *_, o in ops]),
                                               strict=True):
            if index in errors:
                continue
            if isinstance(answer, RetryableError):
                errors[index] = answer
            elif isinstance(answer, ProviderError):
                errors[index] = _error(answer, plans[index][0].item.name)
            else:
                results[index][entity] = models.parse(models.Party, answer, what=f"{op.operation} {entity}")
                created[index] = created.get(index, False) or op.operation == "create"
        for index, (request, _, known) in enumerate(plans):
            error = errors.get(index)
            if isinstance(error, RetryableError):
                continue  # no outcome: the engine counts it unanswered and looks it up next time
            if error is not None:
                yield PushOutcome(request.key, error=error)
                continue
            parties = results[index]
            ids = PartyIds(vendor=parties["Vendor"].Id if "Vendor" in parties else known.vendor,
                           customer=parties["Customer"].Id if "Customer" in parties else known.customer)
            stamps = [p.MetaData.updated for p in parties.values() if p.MetaData is not None]
            yield PushOutcome(request.key, result=PushResult(
                ids.encode(), max(stamps).astimezone(dt.UTC) if stamps else None, created=created.get(index, False)))

    def _by_id(self, plans: Sequence[Plan]) -> dict[tuple[str, str], models.Party]:
        found: dict[tuple[str, str], models.Party] = {}
        for entity in ENTITIES:
            ids = sorted({str(known.of(entity)) for _, _, known in plans if known.of(entity)})
            for start in range(0, len(ids), LOOKUP_CHUNK):
                part = ids[start:start + LOOKUP_CHUNK]
                for party in self._query(entity, f"Id IN ({', '.join(quote(i) for i in part)}) "
                                         "AND Active IN (true, false)"):
                    found[(entity, party.Id)] = party
        return found

    def _by_name(self, plans: Sequence[Plan]) -> dict[str, list[models.Party]]:
        found: dict[str, list[models.Party]] = {entity: [] for entity in ENTITIES}
        for entity in ENTITIES:
            names = sorted({n for request, _, _ in plans for n in (request.item.name.strip(),
                                                                    f"{request.item.name.strip()} ({entity.lower()})")})
            for start in range(0, len(names), LOOKUP_CHUNK):
                part = names[start:start + LOOKUP_CHUNK]
                found[entity] += self._query(
                    entity, f"DisplayName IN ({', '.join(quote(n) for n in part)}) AND Active IN (true, false)")
        return found

    def _query(self, entity: str, where: str) -> list[models.Party]:
        what = f"query {entity}"
        response = self.client.query(f"SELECT * FROM {entity} WHERE {where} MAXRESULTS {MAX_RESULTS}", what=what)
        return models.parse_each(models.Party, response.get(entity), what=what)


def _match(candidates: Sequence[models.Party], entity: str, name: str, key: str, suffixed: bool
           ) -> tuple[models.Party | None, models.Party | None, models.Party | None]:
    """(ours: carries the key; adoptable: the exact name and no booksync marker; a clash: the name pushed for
    another key)."""
    wanted = mapping.display_name(name.strip(), entity, suffixed=suffixed)
    named = [p for p in candidates if p.DisplayName in (name.strip(), wanted)]
    ours = next((p for p in named if key in mapping.keys_in(p.Notes)), None)
    if ours is not None:
        return ours, None, None
    exact = [p for p in named if p.DisplayName == wanted]
    unmarked = [p for p in exact if not mapping.keys_in(p.Notes) and p.Active]
    if unmarked:
        log.info("quickbooks.counterpart_adopted", entity=entity, id=unmarked[0].Id)
        return None, unmarked[0], None
    return None, None, next((p for p in exact if mapping.keys_in(p.Notes)), None)


def _body(counterpart: OutgoingCounterpart, key: str, entity: str, suffixed: bool,
          current: models.Party | None) -> dict[str, Any]:
    """A created one takes its role after its name when ``suffixed``; an existing one keeps whether it has."""
    name = counterpart.name.strip()
    if current is not None:
        suffixed = current.DisplayName.endswith(f" ({entity.lower()})")
    body: dict[str, Any] = {"DisplayName": mapping.display_name(name, entity, suffixed=suffixed), "CompanyName": name,
                            "Notes": mapping.with_marker(current.Notes if current else None, key, limit=2000)}
    if counterpart.email:
        body["PrimaryEmailAddr"] = {"Address": counterpart.email}
    return body


def _error(error: ProviderError, name: str) -> ProviderError:
    if not isinstance(error, DataError):
        return error
    if DUPLICATE_NAME in (error.details.get("codes") or []):
        return DataError(f"QuickBooks Online already uses the name {name!r} for another customer, vendor or employee; "
                         "QuickBooks wants display names unique across them", field="name", value=name,
                         details=error.details)
    return DataError(error.message, field="name" if (error.field or "").endswith("Name") else error.field,
                     details={k: v for k, v in error.details.items() if k not in ("field", "value")})


__all__ = ["PartyPusher"]
