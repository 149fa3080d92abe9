"""SQLAlchemy 2 models, sessions and migrations. Models never do HTTP."""

from models.accounting import AccountingDocument, AccountingTaxRate, LedgerAccount
from models.api_key import ApiKey
from models.base import Base, utcnow
from models.connection import ACTIVE_STATUSES, AccountingConnection, ConnectionStatus, PushDefaults
from models.db import get_engine, get_sessionmaker, reset_engine, session_scope
from models.documents import (
    PAYABLE_PUSHABLE,
    PAYABLE_VOIDING,
    RECEIVABLE_PUSHABLE,
    RECEIVABLE_VOIDING,
    Counterpart,
    Payable,
    PayableLineItem,
    PayableStatus,
    Receivable,
    ReceivableLineItem,
    ReceivableStatus,
)
from models.organization import Organization
from models.payments import PaymentRecord, PaymentRecordStatus, Product, ProductKind
from models.synced_record import AccountingSyncedRecord, ObjectType, SyncStatus
from models.webhooks import DeliveryStatus, OutboxEvent, SubscriptionStatus, WebhookDelivery, WebhookSubscription

__all__ = [
    "ACTIVE_STATUSES",
    "PAYABLE_PUSHABLE",
    "PAYABLE_VOIDING",
    "RECEIVABLE_PUSHABLE",
    "RECEIVABLE_VOIDING",
    "AccountingConnection",
    "AccountingDocument",
    "AccountingSyncedRecord",
    "AccountingTaxRate",
    "ApiKey",
    "Base",
    "ConnectionStatus",
    "Counterpart",
    "DeliveryStatus",
    "LedgerAccount",
    "ObjectType",
    "Organization",
    "OutboxEvent",
    "Product",
    "ProductKind",
    "PushDefaults",
    "Payable",
    "PaymentRecord",
    "PaymentRecordStatus",
    "PayableLineItem",
    "PayableStatus",
    "Receivable",
    "ReceivableLineItem",
    "ReceivableStatus",
    "SubscriptionStatus",
    "SyncStatus",
    "WebhookDelivery",
    "WebhookSubscription",
    "get_engine",
    "get_sessionmaker",
    "reset_engine",
    "session_scope",
    "utcnow",
]
