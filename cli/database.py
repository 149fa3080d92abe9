"""Database access for commands: one session per command, lookups that fail with one clear line."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar

from cli.output import fail

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

M = TypeVar("M")


def require(session: Session, model: type[M], object_id: uuid.UUID, what: str) -> M:
    """The row with this id, or exit status 1 with "no <what> <id>"."""
    found = session.get(model, object_id)
    if found is None:
        fail(f"no {what} {object_id}")
    return found
