"""The delivery counter behind BooksyncTask: per task id and retry, in Redis, one client per process."""

from __future__ import annotations

import uuid

from tasks import deliveries


def test_deliveries_are_counted_per_task_and_retry_on_one_client(redis_url: str) -> None:
    task_id = uuid.uuid4().hex
    assert [deliveries.count_delivery(task_id, 0) for _ in range(3)] == [1, 2, 3]
    assert deliveries.count_delivery(task_id, 1) == 1, "a retry is counted apart"
    assert len(deliveries._clients) == 1  # noqa: SLF001 -- the point of the test
