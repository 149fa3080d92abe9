"""Writes to QuickBooks: one operation as a plain call, several as one ``/batch`` call, each with its ``requestid``.

Intuit's batch endpoint (``POST /v3/company/<realm>/batch``) takes up to 30 ``BatchItemRequest`` items, each
with a ``bId`` (10 characters at most when the batch has a ``requestid``) and an ``operation``, and answers a
``BatchItemResponse`` per item, in any order, with the object or a ``Fault``: a refused item is that item's
error and the others stand. ``requestid`` is 50 characters at most, 36 on ``/batch`` (Intuit's "Request ID"
note); booksync's are 35 (36 with the batch's ``b``): a hash of what the request is, so the same request sent
again after a lost answer has the same one, and QuickBooks answers it as it answered the first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from providers.errors import DataError, NotFoundError, ProviderError, RetryableError
from providers.quickbooks import models
from providers.quickbooks.client import QuickBooksClient, dumps, fault_error, fault_of

#: Intuit: at most 30 operations in one batch request.
MAX_BATCH = 30


@dataclass(slots=True)
class Op:
    """One write: ``operation`` (create, update, delete, void) of ``entity`` with ``body``."""

    entity: str
    operation: str
    body: dict[str, Any]
    requestid: str


def requestid(*parts: Any) -> str:
    """The ``requestid`` of a request made of ``parts`` (the last one its body)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts[:-1]).encode() + b"\x1f" + dumps(parts[-1]))
    return digest.hexdigest()[:35]


def operation(entity: str, name: str, key: str, body: dict[str, Any]) -> Op:
    """An ``Op`` whose ``requestid`` hashes the key and the exact request."""
    return Op(entity, name, body, requestid(name, entity, key, body))


def write(client: QuickBooksClient, realm_id: str, ops: Sequence[Op]) -> list[Any]:
    """Each op's answered object, or the ``ProviderError`` that concerns it alone (a ``RetryableError`` for an
    item the batch answer left out). An error of the whole call (a retryable one, say) is raised."""
    if not ops:
        return []
    if len(ops) == 1:
        return [_single(client, ops[0])]
    items = [{"bId": str(index), "operation": op.operation, op.entity: op.body} for index, op in enumerate(ops)]
    what = f"batch of {len(ops)}"
    answer = client.call("POST", "/batch", what=what, params={"requestid": "b" + requestid("batch", realm_id, items)},
                         body={"BatchItemRequest": items}, batch=True)
    responses = models.member(answer, "BatchItemResponse", what=what)
    if not isinstance(responses, list):
        raise ProviderError(f"QuickBooks Online's answer to {what} has no BatchItemResponse list",
                            details={"answer": what})
    by_bid = {item["bId"]: item for item in responses if isinstance(item, dict) and isinstance(item.get("bId"), str)}
    results: list[Any] = []
    for index, op in enumerate(ops):
        item = by_bid.get(str(index))
        if item is None:
            results.append(RetryableError(f"QuickBooks Online's batch answer left out item {index}"))
            continue
        fault = fault_of(item)
        if fault is not None:
            results.append(fault_error(fault, what=f"{op.operation} {op.entity} (batch item {index})"))
        elif isinstance(item.get(op.entity), dict):
            results.append(item[op.entity])
        else:
            raise ProviderError(f"QuickBooks Online's answer to {what} has item {index} without a {op.entity} "
                                "or a Fault", details={"answer": what})
    return results


def _single(client: QuickBooksClient, op: Op) -> Any:
    params: dict[str, Any] = {"requestid": op.requestid}
    if op.operation in ("void", "delete"):
        params["operation"] = op.operation
    what = f"{op.operation} {op.entity}"
    try:
        answer = client.call("POST", f"/{op.entity.lower()}", what=what, params=params, body=op.body)
    except (DataError, NotFoundError) as exc:
        return exc
    body = models.member(answer, op.entity, what=what)
    if op.operation != "delete" and not isinstance(body, dict):
        raise ProviderError(f"QuickBooks Online's answer to {what} has no {op.entity}", details={"answer": what})
    return body
