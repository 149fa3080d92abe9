"""A fix for Celery 5.7.0 / kombu 5.7.0 that keeps a worker alive when the Redis broker restarts.

On a lost broker connection, Celery 5.7.0's consumer first ``collect()``s the connection (which
detaches its transport: ``transport.client = None``) and then ``close()``s it. Closing a Redis channel
restores the messages it delivered but has not acknowledged — our ``acks_late`` sync while it runs —
and later the running task's acknowledgement goes through the same channel. Both build a Redis client
from ``transport.client``: ``AttributeError: 'NoneType' object has no attribute 'hostname'`` (and
``... 'client'``), which is not a connection error, so the worker dies ("Unrecoverable error").
Measured here with a redis-server restarted mid-sync (``tests/faults/test_worker_recovery.py``).

The fix: a channel whose transport is gone raises a Redis ``ConnectionError`` instead, which Celery and
kombu already treat as a lost connection (logged, ignored, reconnected). Nothing is lost by that: a
message Redis still holds stays in its unacked index and is redelivered after the visibility timeout
(a second sync of the connection is harmless: the lease makes it wait or do nothing). Celery 5.6 did
not close after collecting; remove this module when a release fixes the order.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_original_connparams = kombu_redis.Channel._connparams


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    transport = getattr(self, "connection", None)
    if transport is None or getattr(transport, "client", None) is None:
        raise RedisConnectionError("the broker connection of this channel was closed after a connection loss")
    return _original_connparams(self, asynchronous=asynchronous)


def install() -> None:
    if kombu_redis.Channel._connparams is not _connparams:
        kombu_redis.Channel._connparams = _connparams  # type: ignore[method-assign]
