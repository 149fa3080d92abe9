"""``records`` (newest first, filtered) and ``push`` (enqueueing; following the push is in test_following)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from tests.cli.support import Cli, connection, organization, queued_tasks, synced_record


def test_records_are_listed_most_recently_updated_first_with_their_first_error(cli: Cli) -> None:
    conn = connection(organization())
    oldest = synced_record(conn, age=timedelta(hours=3), object_type="customer")
    middle = synced_record(conn, age=timedelta(hours=2), sync_status="error",
                           errors={"kind": "data", "message": "tax rate 20% does not exist in the accounting system"})
    newest = synced_record(conn, age=timedelta(hours=1), platform_object_id="INV-7")

    result = cli("records")
    assert result.status == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["ID", "TYPE", "OBJECT", "STATUS", "PLATFORM", "PLATFORM", "ID", "UPDATED", "ERROR"]
    assert [line.split()[0] for line in lines] == [str(newest.id), str(middle.id), str(oldest.id)]
    assert lines[0].split()[1:6] == ["bill", str(newest.object_id), "done", "tryton", "INV-7"]
    assert lines[1].endswith("tax rate 20% does not exist in the accounting system")
    assert header.index("STATUS") == lines[1].index("error")

    as_json = json.loads(cli("records", "--json").stdout)
    assert [r["id"] for r in as_json] == [str(newest.id), str(middle.id), str(oldest.id)]
    assert as_json[1]["errors"] == {"kind": "data", "message": "tax rate 20% does not exist in the accounting system"}
    assert as_json[0]["connection_id"] == str(conn.id)


def test_records_filter_by_organization_object_type_status_and_limit(cli: Cli) -> None:
    acme, globex = connection(organization("Acme")), connection(organization("Globex"))
    bill = synced_record(acme, object_type="bill", age=timedelta(minutes=3))
    invoice = synced_record(acme, object_type="receivable", sync_status="error", age=timedelta(minutes=2))
    theirs = synced_record(globex, object_type="bill", age=timedelta(minutes=1))

    def ids(*args: str) -> list[str]:
        result = cli("records", "--json", *args)
        assert result.status == 0, result.stderr
        return [r["id"] for r in json.loads(result.stdout)]

    assert ids("--organization", str(acme.organization_id)) == [str(invoice.id), str(bill.id)]
    assert ids("--object-type", "bill") == [str(theirs.id), str(bill.id)]
    assert ids("--status", "error") == [str(invoice.id)]
    org = str(acme.organization_id)
    assert ids("--organization", org, "--object-type", "bill", "--status", "done") == [str(bill.id)]
    assert ids("--limit", "1") == [str(theirs.id)]
    assert ids("--connection", str(globex.id)) == [str(theirs.id)]
    empty = cli("records", "--status", "pending")
    assert (empty.status, empty.stdout, empty.stderr.strip()) == (0, "", "no synced records")


def test_push_marks_the_record_pending_and_enqueues_the_push(cli: Cli, redis_url: str) -> None:
    from models import AccountingSyncedRecord, session_scope

    record = synced_record(connection(organization()), sync_status="error", errors={"message": "no tax rate"})
    result = cli("push", str(record.id))
    assert result.status == 0, result.stderr
    with session_scope() as session:
        assert session.get(AccountingSyncedRecord, record.id).sync_status == "pending"
    [task] = queued_tasks(redis_url)
    assert (task["name"], task["args"]) == ("tasks.push_synced_record", [str(record.id)])
    assert result.stdout.strip() == (
        f"enqueued tasks.push_synced_record[{task['id']}] (synced record {record.id}, now pending)"
    )

    as_json = json.loads(cli("push", str(record.id), "--json").stdout)
    assert as_json["synced_record_id"] == str(record.id) and as_json["sync_status"] == "pending"


def test_push_refuses_unknown_records_and_records_of_disconnected_connections(cli: Cli, redis_url: str) -> None:
    conn = connection(organization(), status="disconnected")
    record = synced_record(conn, sync_status="error")
    missing = uuid.uuid4()
    result = cli("push", str(missing))
    assert (result.status, result.error_lines) == (1, [f"booksync: no synced record {missing}"])
    result = cli("push", str(record.id))
    assert result.status == 1
    assert result.error_lines == [
        f"booksync: synced record {record.id} belongs to connection {conn.id}, which is disconnected"
    ]
    assert queued_tasks(redis_url) == []


def test_push_with_the_broker_down_fails_at_once_and_changes_nothing(cli: Cli) -> None:
    from models import AccountingSyncedRecord, session_scope

    record = synced_record(connection(organization()), sync_status="error")
    result = cli("push", str(record.id), env={"BOOKSYNC_BROKER_URL": "redis://:broker-pw-77@127.0.0.1:9/0"}, timeout=30)
    assert result.status == 1
    assert len(result.error_lines) == 1 and result.error_lines[0].startswith("booksync: cannot reach the broker: ")
    assert "broker-pw-77" not in result.stderr
    with session_scope() as session:
        assert session.get(AccountingSyncedRecord, record.id).sync_status == "error"
