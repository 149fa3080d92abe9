"""One company's books: create, read, update (full and sparse), delete and void, with QuickBooks' rules.

Every write gives the object its ``Id`` (a per-entity sequence, as QuickBooks numbers each list), a
``SyncToken`` that counts its versions from ``"0"``, and ``MetaData.CreateTime/LastUpdatedTime``. An update
must name the current ``SyncToken`` or it is refused with Intuit's stale-object Fault (5010). A *sparse*
update (``"sparse": true``) changes only the fields it sends; a full one replaces every writable field.
What each entity checks and computes lives in ``names.py`` (lists) and ``transactions.py`` (documents).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from sandboxes.quickbooks import faults
from sandboxes.quickbooks.clock import Clock, metadata_time
from sandboxes.quickbooks.store import Store

SYSTEM_FIELDS = ("Id", "SyncToken", "MetaData", "domain", "sparse", "status")


@dataclass(frozen=True, slots=True)
class Company:
    realm_id: str
    name: str
    country: str
    currency: str
    multicurrency: bool

    @property
    def us_tax(self) -> bool:
        """US companies tax through TAX/NON lines and one sales tax code per transaction."""
        return self.country == "US"

    @classmethod
    def from_settings(cls, realm_id: str, settings: dict[str, Any]) -> Company:
        return cls(realm_id, settings["name"], settings["country"], settings["currency"], bool(settings["multicurrency"]))


class Kind:
    """What an entity allows and how it checks and derives its fields. Subclasses override the hooks."""

    name: ClassVar[str]
    creatable: ClassVar[bool] = True
    updatable: ClassVar[bool] = True
    deletable: ClassVar[bool] = False
    voidable: ClassVar[bool] = False
    void_by_update: ClassVar[bool] = False
    singleton: ClassVar[bool] = False
    has_active: ClassVar[bool] = False
    queryable: ClassVar[frozenset[str]] = frozenset({"id", "metadata.createtime", "metadata.lastupdatedtime"})

    def prepare(self, books: Books, company: Company, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        return body

    def after_save(self, books: Books, company: Company, body: dict[str, Any], previous: dict[str, Any] | None) -> None:
        return None

    def before_delete(self, books: Books, company: Company, existing: dict[str, Any]) -> None:
        return None

    def voided(self, books: Books, company: Company, existing: dict[str, Any]) -> dict[str, Any]:
        raise faults.unsupported_operation(f"void of {self.name}")


class Books:
    def __init__(self, store: Store, clock: Clock, kinds: dict[str, Kind]) -> None:
        self.store = store
        self.clock = clock
        self.kinds = kinds
        self.include: frozenset[str] = frozenset()
        """The request's ``include=`` options (``allowduplicatedocnum``, ``void``), set by the app per call."""

    # -- lookups ------------------------------------------------------------------------------------

    def company(self, realm_id: str) -> Company:
        settings = self.store.company(realm_id)
        if settings is None:
            raise faults.authentication(f"no company with realmId {realm_id}")
        return Company.from_settings(realm_id, settings)

    def kind(self, entity: str) -> Kind:
        try:
            return self.kinds[entity]
        except KeyError:
            raise faults.unsupported_operation(f"{entity}") from None

    def lookup(self, realm_id: str, entity: str, entity_id: str) -> dict[str, Any] | None:
        return self.store.get(realm_id, entity, str(entity_id))

    def read(self, realm_id: str, entity: str, entity_id: str) -> dict[str, Any]:
        self.kind(entity)
        body = self.lookup(realm_id, entity, entity_id)
        if body is None:
            raise faults.not_found(entity, entity_id)
        return body

    def resolve(self, realm_id: str, ref: Any, entity: str, element: str, *, required: bool = True) -> dict[str, Any] | None:
        """The object a ``ReferenceType`` points at: 2020 when missing, 2500 when unknown, 610 when inactive."""
        if not isinstance(ref, dict) or not ref.get("value"):
            if required:
                raise faults.required(element)
            return None
        target = self.lookup(realm_id, entity, str(ref["value"]))
        if target is None:
            raise faults.invalid_reference(element, entity, str(ref["value"]))
        if target.get("Active") is False:
            raise faults.validation(
                "Object Not Found",
                f"Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
                f"accounts, customers, items, vendors or employees. ({element} = {entity} {ref['value']})",
                "610", element,
            )
        return target

    # -- writes -------------------------------------------------------------------------------------

    def create(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        company = self.company(realm_id)
        kind = self.kind(entity)
        if not kind.creatable:
            raise faults.unsupported_operation(f"Create on {entity}")
        incoming = {k: v for k, v in copy.deepcopy(body).items() if k not in SYSTEM_FIELDS}
        with self.store.transaction():
            prepared = kind.prepare(self, company, incoming, None)
            entity_id = str(self.store.next_value(realm_id, entity))
            saved = self._write(realm_id, entity, entity_id, prepared, None)
            kind.after_save(self, company, saved, None)
        return self.read(realm_id, entity, entity_id)

    def update(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        company = self.company(realm_id)
        kind = self.kind(entity)
        if not kind.updatable:
            raise faults.unsupported_operation(f"Update on {entity}")
        existing = self._current(realm_id, entity, body)
        incoming = {k: v for k, v in copy.deepcopy(body).items() if k not in SYSTEM_FIELDS}
        if body.get("sparse") is True:
            merged = {k: v for k, v in copy.deepcopy(existing).items() if k not in SYSTEM_FIELDS}
            merged.update(incoming)
            incoming = merged
        with self.store.transaction():
            prepared = kind.prepare(self, company, incoming, existing)
            saved = self._write(realm_id, entity, existing["Id"], prepared, existing)
            kind.after_save(self, company, saved, existing)
        return self.read(realm_id, entity, existing["Id"])

    def delete(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        company = self.company(realm_id)
        kind = self.kind(entity)
        if not kind.deletable:
            raise faults.unsupported_operation(f"Delete on {entity}")
        existing = self._current(realm_id, entity, body)
        with self.store.transaction():
            kind.before_delete(self, company, existing)
            now = self.clock.now()
            tombstone = {"domain": "QBO", "status": "Deleted", "Id": existing["Id"],
                         "MetaData": {**existing.get("MetaData", {}), "LastUpdatedTime": metadata_time(now)}}
            self.store.put(realm_id, entity, existing["Id"], tombstone, now, deleted=True)
        return {"domain": "QBO", "status": "Deleted", "Id": existing["Id"]}

    def void(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        company = self.company(realm_id)
        kind = self.kind(entity)
        if not kind.voidable:
            raise faults.unsupported_operation(f"Void on {entity}")
        existing = self._current(realm_id, entity, body)
        with self.store.transaction():
            voided = kind.voided(self, company, copy.deepcopy(existing))
            self._write(realm_id, entity, existing["Id"], {k: v for k, v in voided.items() if k not in SYSTEM_FIELDS}, existing)
        return self.read(realm_id, entity, existing["Id"])

    def touch(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a change QuickBooks makes itself (a payment changing an invoice's Balance): a new version."""
        existing = self.store.get(realm_id, entity, body["Id"])
        return self._write(realm_id, entity, body["Id"], {k: v for k, v in body.items() if k not in SYSTEM_FIELDS}, existing)

    def _current(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("Id"):
            raise faults.required(f"{entity}.Id", "Id is required to update, delete or void")
        if body.get("SyncToken") is None:
            raise faults.required(f"{entity}.SyncToken", "SyncToken is required to update, delete or void")
        existing = self.lookup(realm_id, entity, str(body["Id"]))
        if existing is None:
            raise faults.not_found(entity, str(body["Id"]))
        if str(body["SyncToken"]) != existing["SyncToken"]:
            raise faults.stale_object(entity, existing["Id"], str(body["SyncToken"]), existing["SyncToken"])
        return existing

    def _write(self, realm_id: str, entity: str, entity_id: str, fields: dict[str, Any],
               existing: dict[str, Any] | None) -> dict[str, Any]:
        now = self.clock.now()
        stamp = metadata_time(now)
        created = existing["MetaData"]["CreateTime"] if existing else stamp
        token = "0" if existing is None else str(int(existing["SyncToken"]) + 1)
        body: dict[str, Any] = {"Id": entity_id, "SyncToken": token,
                                "MetaData": {"CreateTime": created, "LastUpdatedTime": stamp}}
        body.update(fields)
        body["domain"] = "QBO"
        body["sparse"] = False
        self.store.put(realm_id, entity, entity_id, body, now)
        return body

    # -- payments applied to documents ----------------------------------------------------------------

    def applied(self, realm_id: str, target_entity: str, target_id: str, *, excluding: tuple[str, str] | None = None) -> Decimal:
        rows = self.store.db.execute(
            "SELECT source_entity, source_id, amount FROM applications WHERE realm_id = ? AND target_entity = ? AND target_id = ?",
            (realm_id, target_entity, target_id),
        ).fetchall()
        return sum((Decimal(r["amount"]) for r in rows if (r["source_entity"], r["source_id"]) != excluding), Decimal(0))

    def sources(self, realm_id: str, target_entity: str, target_id: str) -> list[tuple[str, str]]:
        rows = self.store.db.execute(
            "SELECT DISTINCT source_entity, source_id FROM applications WHERE realm_id = ? AND target_entity = ? "
            "AND target_id = ? ORDER BY CAST(source_id AS INTEGER)",
            (realm_id, target_entity, target_id),
        ).fetchall()
        return [(r["source_entity"], r["source_id"]) for r in rows]

    def set_applications(self, realm_id: str, source_entity: str, source_id: str,
                         applications: list[tuple[str, str, Decimal]]) -> set[tuple[str, str]]:
        """Replace what a payment applies; returns every document whose balance may have changed."""
        before = self.store.db.execute(
            "SELECT target_entity, target_id FROM applications WHERE realm_id = ? AND source_entity = ? AND source_id = ?",
            (realm_id, source_entity, source_id),
        ).fetchall()
        self.store.db.execute("DELETE FROM applications WHERE realm_id = ? AND source_entity = ? AND source_id = ?",
                              (realm_id, source_entity, source_id))
        self.store.db.executemany(
            "INSERT INTO applications (realm_id, source_entity, source_id, target_entity, target_id, amount) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(realm_id, source_entity, source_id, t_entity, t_id, str(amount)) for t_entity, t_id, amount in applications],
        )
        return {(r["target_entity"], r["target_id"]) for r in before} | {(t, i) for t, i, _ in applications}
