"""Webhook tests: a real receiver on 127.0.0.1 per module, booksync's settings for loopback receivers, and
helpers to make organizations, connections and subscriptions."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import TEST_BROKER_URL
from tests.support.env import booksync_env
from tests.webhooks.receiver import Receiver, receiving

#: What the tests run with: receivers on loopback over http, short timeouts and retries.
SETTINGS = {
    "webhook_allowed_addresses": "loopback",
    "webhook_require_https": "false",
    "webhook_timeout_seconds": "2",
    "webhook_retry_base_seconds": "0.2",
    "webhook_retry_max_seconds": "1",
    "webhook_sweep_seconds": "1",
}


def env_vars(**overrides: str) -> dict[str, str]:
    """The settings above as BOOKSYNC_* variables (for worker processes)."""
    return {f"BOOKSYNC_{key.upper()}": value for key, value in {**SETTINGS, **overrides}.items()}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server


@pytest.fixture
def hooks_env(db_url: str) -> Iterator[str]:
    """``db_url`` (each backend), with the webhook settings for loopback receivers."""
    with booksync_env(database_url=db_url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL, **SETTINGS):
        yield db_url


def settings(db_url: str, **overrides: str) -> Any:
    """Booksync's settings for ``db_url`` with the webhook settings above, changed by ``overrides``."""
    return booksync_env(database_url=db_url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL,
                        **{**SETTINGS, **overrides})


@pytest.fixture
def pg_hooks_env(pg_url: str) -> Iterator[str]:
    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL, **SETTINGS):
        yield pg_url


@pytest.fixture(autouse=True)
def _empty_webhook_queue() -> Iterator[None]:
    """Kicks published with no worker to take them must not reach a later test's worker."""
    yield
    purge_webhook_queue()


def purge_webhook_queue() -> None:
    import redis

    from worker.config import WEBHOOK_QUEUE
    from worker.metrics import redis_queue_keys

    client = redis.Redis.from_url(TEST_BROKER_URL)
    client.delete(*redis_queue_keys(WEBHOOK_QUEUE))
    client.close()


def sessions() -> Any:
    from models.db import get_sessionmaker

    return get_sessionmaker()


def make_organization(name: str = "Acme") -> uuid.UUID:
    from models import Organization, session_scope

    organization_id = uuid.uuid4()
    with session_scope() as session:
        session.add(Organization(id=organization_id, name=name))
    return organization_id


@dataclass(frozen=True)
class Subscribed:
    id: uuid.UUID
    url: str
    secret: str


def subscribe(url: str, organization_id: uuid.UUID | None, *types: str) -> Subscribed:
    from models import session_scope
    from webhooks.events import EVENT_TYPES
    from webhooks.subscriptions import create_subscription

    with session_scope() as session:
        created = create_subscription(session, organization_id, url, list(types or EVENT_TYPES))
        return Subscribed(created.subscription.id, created.subscription.url, created.secret)


def deliveries(**where: Any) -> list[Any]:
    from models import WebhookDelivery

    with sessions()() as session:
        query = select(WebhookDelivery).order_by(WebhookDelivery.sequence, WebhookDelivery.created_at)
        for name, value in where.items():
            query = query.where(getattr(WebhookDelivery, name) == value)
        return list(session.scalars(query))


def events(**where: Any) -> list[Any]:
    from models import OutboxEvent

    with sessions()() as session:
        query = select(OutboxEvent).order_by(OutboxEvent.sequence)
        for name, value in where.items():
            query = query.where(getattr(OutboxEvent, name) == value)
        return list(session.scalars(query))


class Clock:
    """A clock the tests move (deliveries compare it with when they are due)."""

    def __init__(self, start: datetime | None = None) -> None:
        from models import utcnow

        self.value = start or utcnow()

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


def deliver_due(clock: Callable[[], datetime] | None = None, *, rounds: int = 50) -> list[Any]:
    """Play a worker in this process: deliver whatever is due now until nothing is; returns the outcomes."""
    from models import utcnow
    from webhooks.delivery import deliver, due_deliveries

    now = clock or utcnow
    outcomes = []
    for _ in range(rounds):
        with sessions()() as session:
            due = due_deliveries(session, now())
        if not due:
            return outcomes
        for event_id, subscription_id in due:
            outcomes.append(deliver(sessions(), event_id, subscription_id, now=now))
    raise AssertionError(f"deliveries still due after {rounds} rounds")


def session_for_test() -> Session:
    return sessions()()
