"""SQLAlchemy 2 models, sessions and migrations. Models never do HTTP."""

from models.accounting import AccountingDocument, AccountingTaxRate, LedgerAccount
from models.api_key import ApiKey
from models.base import Base, utcnow
from models.connection import ACTIVE_STATUSES, AccountingConnection, ConnectionStatus
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
from models.synced_record import AccountingSyncedRecord, ObjectType, SyncStatus

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
    "LedgerAccount",
    "ObjectType",
    "Organization",
    "Payable",
    "PayableLineItem",
    "PayableStatus",
    "Receivable",
    "ReceivableLineItem",
    "ReceivableStatus",
    "SyncStatus",
    "get_engine",
    "get_sessionmaker",
    "reset_engine",
    "session_scope",
    "utcnow",
]
