"""Delivering one event to one subscription, and the sweep that finds what is due.

One attempt: claim the delivery (an atomic UPDATE, committed), sign the event's body, POST it with no
database transaction open, record the answer (committed). A delivery is claimed only when it is due
and no earlier event of the same object (``ordering_key``) is still undelivered to that subscription,
so a receiver gets one object's events in order; a delivery that finishes hands on to the next one
of its object (``Outcome.next``). Delivery is at least once: a worker that dies mid-attempt leaves a
claim that lapses (twice the timeout, plus a margin), and the sweep sends the delivery again, with
the same event id for the receiver to de-duplicate.

A 2xx answer is delivered. Anything else — another status, a timeout, a refused connection, an
address the policy refuses — is retried with exponential backoff and equal jitter, until
``BOOKSYNC_WEBHOOK_RETRY_WINDOW_SECONDS`` (a day) after the first attempt; then it is given up
(``failed``) and its subscription is marked ``failing`` until a delivery to it succeeds again.
Redirects are not followed and proxies from the environment are not used (either would go around the
address check), and the answer's body is never stored (only its status).
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import httpx
import structlog
from sqlalchemy import bindparam, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from config.settings import Settings
from models import (
    DeliveryStatus,
    OutboxEvent,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from models.webhooks import UNFINISHED_DELIVERY
from providers.addresses import AddressNotAllowed
from providers.http import HttpSettings, network_transport, socket_deadline
from webhooks.signing import SIGNATURE_HEADER, signature_header
from webhooks.subscriptions import signing_secrets
from webhooks.urls import refusal

log = structlog.get_logger(__name__)

USER_AGENT = "booksync-webhooks/1"
CLAIM_MARGIN_SECONDS = 5.0
#: Read at most this much of an answer (to reuse the connection); the rest is dropped with it.
DRAIN_BYTES = 64 * 1024
#: A subscription's last_success_at / last_failure_at are rewritten at most this often (one hot row).
STAMP_EVERY = timedelta(seconds=60)
SWEEP_LIMIT = 1000
Clock = Callable[[], datetime]
Key = tuple[uuid.UUID, uuid.UUID]
SkipReason = Literal["gone", "finished", "in_flight", "not_due", "waiting", "reclaimed"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the receiver answered (``status_code``) or why there was no answer (``error``)."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["delivered", "retrying", "failed", "skipped"]
    reason: SkipReason | None = None
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    retry_in: float | None = None
    #: the next delivery of the same object to the same subscription, now free to go
    next: Key | None = None

    def as_dict(self) -> dict[str, object]:
        return {key: value for key, value in {
            "status": self.status, "reason": self.reason, "attempts": self.attempts, "status_code": self.status_code,
            "error": self.error, "duration_ms": self.duration_ms, "retry_in": self.retry_in,
        }.items() if value is not None}


def claim_seconds(settings: Settings) -> float:
    return settings.webhook_timeout_seconds * 2 + CLAIM_MARGIN_SECONDS


def backoff(attempts: int, settings: Settings, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling, capped, equal jitter."""
    ceiling = min(settings.webhook_retry_max_seconds, settings.webhook_retry_base_seconds * 2 ** max(0, attempts - 1))
    return uniform(ceiling / 2, ceiling)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# -- the HTTP attempt ---------------------------------------------------------------------------

_clients: dict[tuple[int, float, str], httpx.Client] = {}


def client_for(settings: Settings) -> httpx.Client:
    """One client per process and settings: connections to a receiver are reused between deliveries.

    It connects only where ``BOOKSYNC_WEBHOOK_ALLOWED_ADDRESSES`` allows (checked on the address
    connected to), never follows redirects, and ignores proxy variables.
    """
    key = (os.getpid(), settings.webhook_timeout_seconds, settings.webhook_allowed_addresses)
    client = _clients.get(key)
    if client is None:
        for stale in [k for k in _clients if k[0] != os.getpid()]:
            del _clients[stale]  # inherited from the parent across a fork: its sockets are not ours
        seconds = settings.webhook_timeout_seconds
        http = HttpSettings(connect=min(5.0, seconds), read=seconds, write=seconds, pool=seconds,
                            max_connections=20, max_keepalive_connections=10)
        client = httpx.Client(
            transport=network_transport(http, address_policy=settings.webhook_address_policy,
                                        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]),
            timeout=http.timeout(), follow_redirects=False, trust_env=False,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
        )
        _clients[key] = client
    return client


def _first_line(exc: BaseException, url: str) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].replace(url, "<url>")
    return text[:200]


def post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    """One POST, all of it (connecting included) within ``timeout`` seconds."""
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        with socket_deadline(timeout), client.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
            drained = 0
            for chunk in response.iter_raw():
                drained += len(chunk)
                if drained > DRAIN_BYTES:
                    break
    except AddressNotAllowed as exc:
        error = refusal(exc)
    except httpx.TimeoutException:
        error = f"no answer within {timeout:g} s"
    except httpx.ConnectError as exc:
        error = f"could not connect: {_first_line(exc, url)}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {_first_line(exc, url)}"
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    return Attempt(status, error, round((time.perf_counter() - started) * 1000))


# -- one delivery ---------------------------------------------------------------------------------
# The statements of an attempt are built once, with bound parameters (building them is most of the cost).

_deliveries = WebhookDelivery.__table__
_events = OutboxEvent.__table__
_subscriptions = WebhookSubscription.__table__
_earlier = _deliveries.alias("earlier")
_WAITING_BEHIND_EARLIER = exists().where(
    _earlier.c.subscription_id == _deliveries.c.subscription_id,
    _earlier.c.ordering_key == _deliveries.c.ordering_key,
    _earlier.c.sequence < _deliveries.c.sequence,
    _earlier.c.status.in_(UNFINISHED_DELIVERY),
)


def _claimable(now: object) -> tuple[object, ...]:
    """Due, not claimed (or claimed by a worker whose claim lapsed), and first in line for its object."""
    return (
        _deliveries.c.status.in_(UNFINISHED_DELIVERY),
        _deliveries.c.next_attempt_at <= now,
        or_(_deliveries.c.claimed_until.is_(None), _deliveries.c.claimed_until < now),
        ~_WAITING_BEHIND_EARLIER,
    )


_THIS = (_deliveries.c.event_id == bindparam("b_event"), _deliveries.c.subscription_id == bindparam("b_subscription"))
_CLAIM = (
    update(_deliveries)
    .where(*_THIS, *_claimable(bindparam("now")))
    .values(claimed_until=bindparam("claim_until"), claimed_by=bindparam("holder"))
)
_CLAIMED = (
    select(_deliveries.c.id, _deliveries.c.attempts, _deliveries.c.first_attempt_at, _deliveries.c.event_type,
           _deliveries.c.sequence, _deliveries.c.ordering_key, _events.c.body, _subscriptions.c.url,
           _subscriptions.c.secrets, _subscriptions.c.previous_secret_expires_at)
    .join(_events, _events.c.id == _deliveries.c.event_id)
    .join(_subscriptions, _subscriptions.c.id == _deliveries.c.subscription_id)
    .where(*_THIS, _deliveries.c.claimed_by == bindparam("holder"))
)
_SEEN = select(_deliveries.c.status, _deliveries.c.claimed_until, _deliveries.c.next_attempt_at).where(*_THIS)
_OURS = (_deliveries.c.id == bindparam("b_delivery"), _deliveries.c.claimed_by == bindparam("holder"))
_ATTEMPTED = {
    "attempts": bindparam("b_attempts"), "first_attempt_at": bindparam("b_first"),
    "last_attempt_at": bindparam("finished"), "last_response_code": bindparam("status_code"),
    "last_error": bindparam("error"), "last_duration_ms": bindparam("duration_ms"), "claimed_until": None,
    "claimed_by": None, "updated_at": bindparam("finished"),
}
_RECORD = {
    DeliveryStatus.DELIVERED: update(_deliveries).where(*_OURS).values(
        status=DeliveryStatus.DELIVERED.value, delivered_at=bindparam("finished"), **_ATTEMPTED),
    DeliveryStatus.FAILED: update(_deliveries).where(*_OURS).values(status=DeliveryStatus.FAILED.value, **_ATTEMPTED),
    DeliveryStatus.RETRYING: update(_deliveries).where(*_OURS).values(
        status=DeliveryStatus.RETRYING.value, next_attempt_at=bindparam("b_next"), **_ATTEMPTED),
}
_this_subscription = _subscriptions.c.id == bindparam("b_subscription")
#: a success makes a failing subscription active again (and stamps last_success_at, at most every minute)
_SUCCEEDED = update(_subscriptions).where(_this_subscription, or_(
    _subscriptions.c.status != SubscriptionStatus.ACTIVE.value, _subscriptions.c.last_success_at.is_(None),
    _subscriptions.c.last_success_at < bindparam("stamp_before"),
)).values(status=SubscriptionStatus.ACTIVE.value, failing_since=None, last_success_at=bindparam("finished"))
_GAVE_UP = update(_subscriptions).where(_this_subscription).values(
    status=SubscriptionStatus.FAILING.value, last_failure_at=bindparam("finished"),
    failing_since=func.coalesce(_subscriptions.c.failing_since, bindparam("finished")),
)
_FAILED_ONCE = update(_subscriptions).where(_this_subscription, or_(
    _subscriptions.c.last_failure_at.is_(None), _subscriptions.c.last_failure_at < bindparam("stamp_before"),
)).values(last_failure_at=bindparam("finished"))
_NEXT = (
    select(_deliveries.c.event_id, _deliveries.c.subscription_id)
    .where(_deliveries.c.subscription_id == bindparam("b_subscription"),
           _deliveries.c.ordering_key == bindparam("b_ordering_key"),
           _deliveries.c.sequence > bindparam("b_sequence"),
           _deliveries.c.status.in_(UNFINISHED_DELIVERY))
    .order_by(_deliveries.c.sequence)
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class _Claimed:
    """What an attempt needs of its delivery, read under the claim."""

    key: Key
    id: uuid.UUID
    attempts: int
    first_attempt_at: datetime | None
    event_type: str
    sequence: int
    ordering_key: str
    body: bytes
    url: str
    secrets: list[str]


def _claim(session: Session, key: Key, now: datetime, holder: str, seconds: float) -> _Claimed | None:
    """Claim the delivery and read what its attempt needs (one transaction, committed); None if not claimable."""
    ids = {"b_event": key[0], "b_subscription": key[1], "holder": holder}
    claimed = session.execute(_CLAIM, {**ids, "now": now, "claim_until": now + timedelta(seconds=seconds)}).rowcount
    row = session.execute(_CLAIMED, ids).one_or_none() if claimed == 1 else None
    session.commit()
    if row is None:
        return None
    secrets = signing_secrets(row.secrets, row.previous_secret_expires_at, now)
    return _Claimed(key, row.id, row.attempts, row.first_attempt_at, row.event_type, row.sequence, row.ordering_key,
                    row.body.encode(), row.url, secrets)


def _why_not(session: Session, key: Key, now: datetime) -> SkipReason:
    row = session.execute(_SEEN, {"b_event": key[0], "b_subscription": key[1]}).one_or_none()
    session.commit()
    if row is None:
        return "gone"
    if row.status not in UNFINISHED_DELIVERY:
        return "finished"
    if row.claimed_until is not None and row.claimed_until >= now:
        return "in_flight"
    if row.next_attempt_at > now:
        return "not_due"
    return "waiting"


def deliver(
    sessions: sessionmaker[Session],
    event_id: uuid.UUID,
    subscription_id: uuid.UUID,
    *,
    now: Clock = utcnow,
    client: httpx.Client | None = None,
) -> Outcome:
    """One attempt of one delivery, if it is due and first in line; otherwise ``skipped`` and why."""
    settings = get_settings()
    holder = _holder()
    key = (event_id, subscription_id)
    with sessions() as session:
        started = now()
        claimed = _claim(session, key, started, holder, claim_seconds(settings))
        if claimed is None:
            return Outcome("skipped", reason=_why_not(session, key, started))
    headers = {
        "Booksync-Event-Id": str(event_id),
        "Booksync-Event-Type": claimed.event_type,
        "Booksync-Delivery-Id": str(claimed.id),
        "Booksync-Delivery-Attempt": str(claimed.attempts + 1),
        SIGNATURE_HEADER: signature_header(claimed.body, claimed.secrets),
    }
    attempt = post(client or client_for(settings), claimed.url, claimed.body, headers, settings.webhook_timeout_seconds)
    with sessions() as session:
        outcome = _record(session, claimed, holder, started, attempt, now(), settings)
    log.info("webhook.delivery", event_id=str(event_id), subscription_id=str(subscription_id),
             delivery_id=str(claimed.id), event_type=claimed.event_type, **outcome.as_dict())
    return outcome


def _record(
    session: Session, claimed: _Claimed, holder: str, started: datetime, attempt: Attempt, finished: datetime,
    settings: Settings,
) -> Outcome:
    """Write the attempt's outcome (only if the claim is still ours), and what follows from it, in one commit."""
    first = claimed.first_attempt_at or started
    give_up_at = first + timedelta(seconds=settings.webhook_retry_window_seconds)
    attempts = claimed.attempts + 1
    values: dict[str, object] = {
        "b_delivery": claimed.id, "holder": holder, "b_attempts": attempts, "b_first": first,
        "finished": finished, "status_code": attempt.status_code, "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }
    retry_in: float | None = None
    if attempt.delivered:
        status = DeliveryStatus.DELIVERED
    elif finished >= give_up_at:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.RETRYING
        next_at = min(finished + timedelta(seconds=backoff(attempts, settings)), give_up_at)
        values["b_next"] = next_at
        retry_in = max(0.0, (next_at - finished).total_seconds())
    if session.execute(_RECORD[status], values).rowcount != 1:  # our claim lapsed and another worker took it over
        session.commit()
        return Outcome("skipped", reason="reclaimed", status_code=attempt.status_code, error=attempt.error)
    stamps = {"b_subscription": claimed.key[1], "finished": finished, "stamp_before": finished - STAMP_EVERY}
    following: Key | None = None
    if status is DeliveryStatus.RETRYING:
        session.execute(_FAILED_ONCE, stamps)
    else:
        session.execute(_SUCCEEDED if status is DeliveryStatus.DELIVERED else _GAVE_UP, stamps)
        row = session.execute(_NEXT, {"b_subscription": claimed.key[1], "b_ordering_key": claimed.ordering_key,
                                      "b_sequence": claimed.sequence}).first()
        following = (row[0], row[1]) if row is not None else None
    session.commit()
    if status is DeliveryStatus.FAILED:
        log.warning("webhook.gave_up", delivery_id=str(claimed.id), event_id=str(claimed.key[0]),
                    subscription_id=str(claimed.key[1]), attempts=attempts, error=attempt.error)
    return Outcome(status.value, attempts=attempts, status_code=attempt.status_code,  # type: ignore[arg-type]
                   error=attempt.error, duration_ms=attempt.duration_ms, retry_in=retry_in, next=following)


# -- the sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Swept:
    due: list[Key]
    purged_events: int


def due_deliveries(session: Session, now: datetime, limit: int = SWEEP_LIMIT) -> list[Key]:
    """Deliveries that could be claimed now (due, unclaimed or with a lapsed claim, first in line), oldest due first."""
    rows = session.execute(
        select(_deliveries.c.event_id, _deliveries.c.subscription_id)
        .where(*_claimable(now))
        .order_by(_deliveries.c.next_attempt_at)
        .limit(limit)
    ).all()
    return [(event_id, subscription_id) for event_id, subscription_id in rows]


def purge(session: Session, now: datetime, retention_days: int, limit: int = SWEEP_LIMIT) -> int:
    """Delete events older than the retention whose deliveries are all finished (their deliveries go with them)."""
    unfinished = exists().where(WebhookDelivery.event_id == OutboxEvent.id,
                                WebhookDelivery.status.in_(UNFINISHED_DELIVERY))
    old = (select(OutboxEvent.sequence)
           .where(OutboxEvent.created_at < now - timedelta(days=retention_days), ~unfinished)
           .limit(limit))
    result = session.execute(delete(OutboxEvent).where(OutboxEvent.sequence.in_(old))
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def sweep(sessions: sessionmaker[Session], now: datetime | None = None, limit: int = SWEEP_LIMIT) -> Swept:
    """At most ``limit`` deliveries due now (to be enqueued), and old finished events deleted."""
    settings = get_settings()
    now = now or utcnow()
    with sessions() as session:
        due = due_deliveries(session, now, limit) if limit > 0 else []
        purged = purge(session, now, settings.webhook_retention_days, SWEEP_LIMIT)
        session.commit()
    return Swept(due, purged)
