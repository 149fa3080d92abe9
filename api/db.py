"""The request's database session (sync SQLAlchemy; routes are plain ``def`` and run in the threadpool)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from models.db import get_sessionmaker


def db_session() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]
