"""Push: the platform's products, before the documents whose lines sell them; each outcome a synced record.

Products go through the ``Pusher``'s unit of work (commit before the call, none open during it, each
outcome at once, batches, retries one at a time, attempt caps). A sync pushes the products that are new
(since the connection was made, or all with a backfill) or changed; a document whose line names a product
pushes it first if it was not (whatever its age), and sends it as ``LineItem.product_platform_id``.

A product the accounting system refuses makes the documents that sell it ``error`` (kind ``product``, naming
it and why), as a refused counterpart does; they go again once the product is pushed. A provider that takes no
products (``supports_products`` false) gets none: the product's record says so once (kind ``unsupported``,
not retried by the syncs) and documents go without their products.

On an invoice, a line without a ledger account is sold on its product's account, or the connection's default
product account (``PushDefaults.product_ledger_account_id``); bills keep their own (a product's account is
a sales account).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, or_, select

from config.secrets import scrub
from models import (
    AccountingSyncedRecord,
    PayableLineItem,
    Product,
    ReceivableLineItem,
    SyncStatus,
)
from providers.errors import DataError
from providers.types import OutgoingProduct, ProductType

if TYPE_CHECKING:
    from tasks.engine.push import Pusher

OBJECT_TYPE = "product"
BATCH = 200
#: Each document kind's line table and the column naming the line's document.
LINES = {"bill": (PayableLineItem, PayableLineItem.payable_id), "receivable": (ReceivableLineItem, ReceivableLineItem.receivable_id)}

#: What ``resolve`` answers for a product: its id in the accounting system, the errors that keep it out,
#: or None when the provider takes no products (the document goes without it).
ProductRef = str | dict[str, Any] | None


class ProductPusher:
    """The products of one ``Pusher`` (one sync or push-retry); it keeps what it learnt for the documents."""

    def __init__(self, pusher: Pusher) -> None:
        self.pusher = pusher
        self._known: dict[uuid.UUID, ProductRef] = {}
        self._products: dict[uuid.UUID, Product | None] = {}

    @property
    def _system(self) -> str:
        return self.pusher.provider.display_name

    def _product(self, product_id: uuid.UUID) -> Product | None:
        if product_id not in self._products:
            product = self.pusher.session.get(Product, product_id)
            valid = product is not None and product.organization_id == self.pusher.connection.organization_id
            self._products[product_id] = product if valid else None
        return self._products[product_id]

    # -- for the documents --------------------------------------------------------------------
    def sales_account(self, product_id: uuid.UUID) -> str | None:
        """The ledger account an invoice line selling this product is booked on when it names none."""
        product = self._product(product_id)
        if product is not None and product.ledger_account_id:
            return product.ledger_account_id
        default = self.pusher.connection.push_defaults.product_ledger_account_id
        return str(default) if default is not None else None

    def refusal(self, product_id: uuid.UUID, errors: dict[str, Any]) -> dict[str, Any]:
        """The errors of a document that sells a product the accounting system refused."""
        product = self._product(product_id)
        name = product.name if product is not None else "?"
        reason = str(errors.get("message", "it was refused")).removeprefix(f"{self._system}: ")
        return {
            "kind": "product",
            "message": f"product {name!r} ({product_id}) could not be pushed to {self._system}: {reason}",
            "details": {"product_id": str(product_id)},
        }

    def resolve(self, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, ProductRef]:
        """Each product's ``ProductRef``, pushing those this run has not seen; a product whose push ended
        without an answer is left out (the documents that sell it wait for the next sync)."""
        wanted = sorted(product_id for product_id in product_ids if product_id not in self._known)
        if wanted:
            found = {p.id: p for p in self.pusher.session.scalars(select(Product).where(
                Product.organization_id == self.pusher.connection.organization_id, Product.id.in_(wanted)))}
            for product_id in wanted:
                if product_id not in found:
                    self._known[product_id] = {"message": "the product no longer exists in booksync"}
            self.push([(product, None) for product in found.values()])
        return {product_id: self._known[product_id] for product_id in product_ids if product_id in self._known}

    # -- a sync's products --------------------------------------------------------------------
    def push_changed(self) -> None:
        """Products new since the connection was made (or all, with a backfill), changed, or pending."""
        for rows in self._candidate_batches():
            self.push(rows)

    def push_record(self, record: AccountingSyncedRecord) -> None:
        """Push one product again (push-retry)."""
        product = self._product(record.object_id)
        if product is None:
            self.pusher._error(record, {"kind": "not_found", "message": "the product no longer exists in booksync"},
                               record.object_updated_at)
            self.pusher.session.commit()
            return
        self.push([(product, record)])

    def _candidates(self, after: uuid.UUID | None) -> Select[tuple[Any]]:
        connection = self.pusher.connection
        record = AccountingSyncedRecord
        statement = (
            select(Product, record)
            .outerjoin(record, self.pusher._scope() & (record.object_type == OBJECT_TYPE) & (record.object_id == Product.id))
            .where(
                Product.organization_id == connection.organization_id,
                or_(record.id.is_(None), record.sync_status == SyncStatus.PENDING.value,
                    Product.updated_at > record.object_updated_at),
            )
            .order_by(Product.id)
            .limit(BATCH)
        )
        if not connection.backfill and connection.connected_at is not None:
            statement = statement.where(record.id.is_not(None) | (Product.created_at >= connection.connected_at))
        if after is not None:
            statement = statement.where(Product.id > after)
        return statement

    def _candidate_batches(self) -> Iterator[list[tuple[Product, AccountingSyncedRecord | None]]]:
        session = self.pusher.session
        after: uuid.UUID | None = None
        while True:
            batch = [(product, record) for product, record in session.execute(self._candidates(after)).all()]
            if not batch:
                return  # no provider call follows: the read stays in the transaction the next commit ends
            session.commit()
            yield batch
            after = batch[-1][0].id

    # -- the push -----------------------------------------------------------------------------
    def outgoing(self, product: Product) -> OutgoingProduct:
        pusher = self.pusher
        if product.ledger_account_id:
            account: str | None = pusher.ledger_account(product.ledger_account_id, field="ledger_account_id")
        else:
            default = pusher.connection.push_defaults.product_ledger_account_id
            account = pusher.ledger_account(
                str(default), field="defaults.product_ledger_account_id",
                label="the connection's default product account: ",
            ) if default is not None else None
        tax_rate_value, tax_platform_id = pusher.tax_of(
            product.tax_rate_value, product.accounting_tax_rate_id, field="accounting_tax_rate_id"
        )
        return OutgoingProduct(
            id=str(product.id),
            name=product.name,
            type=ProductType(product.type),
            description=product.description,
            unit_price=product.unit_price,
            currency=product.currency,
            unit=product.unit,
            ledger_account_id=account,
            tax_rate_value=tax_rate_value,
            tax_rate_platform_id=tax_platform_id,
        )

    def push(self, rows: Sequence[tuple[Product, AccountingSyncedRecord | None]]) -> None:
        """Push these products (those unchanged since their last push cost no call); learn each outcome."""
        from tasks.engine.push import Pending, _hash

        pusher, session = self.pusher, self.pusher.session
        missing = [product.id for product, record in rows if record is None]
        records = {
            r.object_id: r for r in session.scalars(select(AccountingSyncedRecord).where(
                pusher._scope(), AccountingSyncedRecord.object_type == OBJECT_TYPE,
                AccountingSyncedRecord.object_id.in_(missing),
            ))
        } if missing else {}
        pending: list[Pending] = []
        for product, known in rows:
            self._products[product.id] = product
            record = known or records.get(product.id) or pusher._new_record(OBJECT_TYPE, product.id, product.updated_at)
            if not pusher.provider.supports_products:
                self._unsupported(record, product)
                continue
            if record.platform_deleted_at is not None:
                if record.sync_status != SyncStatus.ERROR:
                    pusher._error(record, {"kind": "deleted", "message": "this product was deleted in the accounting "
                                  "system and is not re-created; push it under a new id"}, product.updated_at)
                self._known[product.id] = record.errors
                continue
            try:
                outgoing = self.outgoing(product)
            except DataError as exc:
                pusher._error(record, scrub(exc.to_errors(), pusher.secrets), product.updated_at)
                self._known[product.id] = record.errors
                continue
            content = _hash(asdict(outgoing))
            if record.sync_status == SyncStatus.DONE and record.content_hash == content and record.platform_object_id:
                record.object_updated_at = product.updated_at
                self._known[product.id] = record.platform_object_id
                continue
            pending.append(Pending(record, outgoing, content, product.updated_at))
        session.commit()
        pusher._run(pending, pusher.provider.push_products)
        for item in pending:
            record = item.record
            if record.sync_status == SyncStatus.DONE and record.platform_object_id:
                self._known[record.object_id] = record.platform_object_id
                self._retry_documents_waiting_for(record.object_id)
            elif record.sync_status == SyncStatus.ERROR:
                self._known[record.object_id] = record.errors or {"message": "it was refused"}
            else:
                self._known.pop(record.object_id, None)
        session.commit()

    def _unsupported(self, record: AccountingSyncedRecord, product: Product) -> None:
        """Once per product: its record says the provider takes none; documents go without it."""
        self._known[product.id] = None
        if record.sync_status == SyncStatus.ERROR and (record.errors or {}).get("kind") == "unsupported":
            record.object_updated_at = product.updated_at
            return
        self.pusher._error(record, {
            "kind": "unsupported",
            "message": f"{self._system} does not take products from booksync; the documents that sell this product "
                       "are pushed without it",
        }, product.updated_at)

    def _retry_documents_waiting_for(self, product_id: uuid.UUID) -> None:
        """Documents that failed only because this product could not be pushed go again."""
        session = self.pusher.session
        for object_type, (line, document_column) in LINES.items():
            waiting = session.scalars(
                select(AccountingSyncedRecord).where(
                    self.pusher._scope(),
                    AccountingSyncedRecord.object_type == object_type,
                    AccountingSyncedRecord.sync_status == SyncStatus.ERROR.value,
                    AccountingSyncedRecord.object_id.in_(select(document_column).where(line.product_id == product_id)),
                )
            ).all()
            for record in waiting:
                if (record.errors or {}).get("kind") == "product":
                    record.sync_status = SyncStatus.PENDING.value
        session.commit()
