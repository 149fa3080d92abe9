"""``connections list|show``, ``sync`` and ``disconnect`` (enqueueing; following a task is in test_following)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from tests.cli.support import Cli, connection, organization, queued_tasks, synced_record


def test_list_shows_connections_newest_first_as_a_table_and_as_json(cli: Cli) -> None:
    from models import utcnow

    acme, globex = organization("Acme"), organization("Globex")
    old = connection(acme, status="disconnected", created_at=utcnow() - timedelta(days=2))
    new = connection(acme, last_pull=utcnow() - timedelta(hours=1), errors=[{"message": "tax rate 20% is missing"}])
    other = connection(globex, status="deauthorized", platform="xero", created_at=utcnow() - timedelta(days=1))

    result = cli("connections", "list")
    assert result.status == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["ID", "ORGANIZATION", "PLATFORM", "STATUS", "LAST", "PULL", "NEXT", "SYNC", "LAST",
                              "ERROR"]
    assert [line.split()[0] for line in lines] == [str(new.id), str(other.id), str(old.id)]
    assert lines[0].split()[1:4] == [str(acme.id), "tryton", "connected"]
    assert lines[0].endswith("tax rate 20% is missing")
    assert header.index("PLATFORM") == lines[1].index("xero")

    as_json = json.loads(cli("connections", "list", "--json").stdout)
    assert [c["id"] for c in as_json] == [str(new.id), str(other.id), str(old.id)]
    assert as_json[0]["errors"] == [{"message": "tax rate 20% is missing"}]
    assert "credentials" not in as_json[0]


def test_list_filters_by_organization_status_and_platform(cli: Cli) -> None:
    acme, globex = organization("Acme"), organization("Globex")
    mine = connection(acme)
    connection(globex, platform="xero", status="deauthorized")

    def ids(*args: str) -> list[str]:
        result = cli("connections", "list", "--json", *args)
        assert result.status == 0, result.stderr
        return [c["id"] for c in json.loads(result.stdout)]

    assert ids("--organization", str(acme.id)) == [str(mine.id)]
    assert ids("--status", "connected") == [str(mine.id)]
    assert len(ids("--platform", "xero")) == 1
    assert ids("--organization", str(uuid.uuid4())) == []
    empty = cli("connections", "list", "--organization", str(uuid.uuid4()))
    assert (empty.status, empty.stdout, empty.stderr.strip()) == (0, "", "no connections")


def test_show_gives_everything_but_the_credentials(cli: Cli) -> None:
    acme = organization()
    conn = connection(
        acme, settings={"url": "http://tryton.example", "database": "acme", "password": "in-the-wrong-place"},
        credentials={"username": "admin", "password": "s3cret-Tryton-pass"}, lease_holder="worker-1:42",
    )
    synced_record(conn, sync_status="done")
    synced_record(conn, sync_status="error", errors={"message": "tax rate 20% does not exist"})

    result = cli("connections", "show", str(conn.id))
    assert result.status == 0, result.stderr
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert fields["status"].strip() == "connected"
    assert fields["lease_holder"].strip() == "worker-1:42"
    assert fields["synced_records"].strip() == "pending=0, done=1, error=1"
    assert "s3cret-Tryton-pass" not in result.stdout
    assert "in-the-wrong-place" not in result.stdout

    shown = json.loads(cli("connections", "show", str(conn.id), "--json").stdout)
    assert shown["id"] == str(conn.id)
    assert shown["settings"] == {"url": "http://tryton.example", "database": "acme", "password": "[redacted]"}
    assert shown["synced_records"] == {"pending": 0, "done": 1, "error": 1}
    assert "credentials" not in shown
    assert "s3cret-Tryton-pass" not in json.dumps(shown)


def test_show_of_an_unknown_connection_is_one_line_and_status_1(cli: Cli) -> None:
    missing = uuid.uuid4()
    result = cli("connections", "show", str(missing))
    assert (result.status, result.stdout, result.error_lines) == (1, "", [f"booksync: no connection {missing}"])


def test_sync_enqueues_a_manual_sync_by_its_public_name(cli: Cli, redis_url: str) -> None:
    conn = connection(organization())
    result = cli("sync", str(conn.id))
    assert result.status == 0, result.stderr
    [task] = queued_tasks(redis_url)
    assert task["name"] == "tasks.sync_connection"
    assert task["args"] == [str(conn.id), "manual"]
    assert result.stdout.strip() == f"enqueued tasks.sync_connection[{task['id']}] (connection_id {conn.id})"

    as_json = json.loads(cli("sync", str(conn.id), "--json").stdout)
    assert as_json["task"] == "tasks.sync_connection" and as_json["connection_id"] == str(conn.id)
    assert as_json["task_id"] in {t["id"] for t in queued_tasks(redis_url)}


def test_sync_refuses_unknown_and_disconnected_connections(cli: Cli, redis_url: str) -> None:
    gone = connection(organization(), status="disconnected")
    missing = uuid.uuid4()
    result = cli("sync", str(missing))
    assert (result.status, result.error_lines) == (1, [f"booksync: no connection {missing}"])
    result = cli("sync", str(gone.id))
    assert result.status == 1
    assert result.error_lines == [f"booksync: connection {gone.id} is disconnected; there is nothing to sync"]
    assert queued_tasks(redis_url) == []


def test_disconnect_marks_the_connection_and_enqueues_the_revocation(cli: Cli, redis_url: str) -> None:
    from models import AccountingConnection, session_scope

    conn = connection(organization())
    record = synced_record(conn)
    result = cli("disconnect", str(conn.id))
    assert result.status == 0, result.stderr
    with session_scope() as session:
        assert session.get(AccountingConnection, conn.id).status == "disconnected"
    [task] = queued_tasks(redis_url)
    assert (task["name"], task["args"]) == ("tasks.disconnect_connection", [str(conn.id)])
    assert f"enqueued tasks.disconnect_connection[{task['id']}]" in result.stdout

    records = json.loads(cli("records", "--connection", str(conn.id), "--json").stdout)
    assert [r["id"] for r in records] == [str(record.id)]

    missing = uuid.uuid4()
    result = cli("disconnect", str(missing))
    assert (result.status, result.error_lines) == (1, [f"booksync: no connection {missing}"])


def test_sync_wait_gives_up_waiting_after_its_timeout_with_status_1(cli: Cli, redis_url: str) -> None:
    conn = connection(organization())
    result = cli("sync", str(conn.id), "--wait", "--timeout", "1")
    assert result.status == 1
    [task] = queued_tasks(redis_url)
    assert result.error_lines[-1] == (
        f"booksync: task {task['id']} is still pending after 1s; it goes on in the worker (follow it in Flower)"
    )
