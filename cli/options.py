"""Options several commands share. Ids are UUIDs: a malformed one is bad usage (exit status 2).

The choices mirror the models' enums (a test keeps them equal) so that ``--help`` and usage errors
answer without importing SQLAlchemy.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

import typer

OrganizationOption = Annotated[
    uuid.UUID | None, typer.Option("--organization", metavar="ORGANIZATION_ID", help="Only this organization's.")
]
ConnectionArgument = Annotated[uuid.UUID, typer.Argument(metavar="CONNECTION_ID", help="The connection's id.")]
RecordArgument = Annotated[uuid.UUID, typer.Argument(metavar="RECORD_ID", help="The synced record's id.")]


class ConnectionStatusChoice(enum.StrEnum):
    pending_auth = "pending_auth"
    connected = "connected"
    disconnected = "disconnected"
    deauthorized = "deauthorized"


class ObjectTypeChoice(enum.StrEnum):
    bill = "bill"
    receivable = "receivable"
    customer = "customer"
    vendor = "vendor"
    product = "product"
    payment_record = "payment_record"
    tax_rate = "tax_rate"


class SyncStatusChoice(enum.StrEnum):
    pending = "pending"
    done = "done"
    error = "error"
