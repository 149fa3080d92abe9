"""``booksync webhooks ...`` run as a user runs it (subprocesses on PostgreSQL and Redis): the secret printed
once, refused URLs as bad usage (2), unknown ids as failures (1), deliveries and redelivery."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cli.support import Cli, connection, organization, run_booksync
from tests.webhooks.conftest import _empty_webhook_queue  # noqa: F401  (fixture)

RECEIVER = "https://8.8.8.8/hooks/booksync"  # a public address, never contacted here
COMMANDS = ["create", "list", "show", "update", "rotate-secret", "delete", "deliveries", "redeliver"]


def test_every_webhooks_command_has_help() -> None:
    commands = [["webhooks"], *[["webhooks", command] for command in COMMANDS]]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda args: run_booksync([*args, "--help"], {}, timeout=60), commands))
    for args, result in zip(commands, results, strict=True):
        assert result.status == 0, (args, result.stderr)
        assert result.stdout.startswith(f"Usage: booksync {' '.join(args)}"), result.stdout[:100]


def test_the_choices_are_the_models_values() -> None:
    from cli.webhooks import DeliveryStatusChoice, EventTypeChoice
    from models import DeliveryStatus
    from webhooks.events import EventType

    assert [c.value for c in EventTypeChoice] == [t.value for t in EventType]
    assert [c.value for c in DeliveryStatusChoice] == [s.value for s in DeliveryStatus]


def _create(cli: Cli, *args: str) -> dict:  # type: ignore[type-arg]
    result = cli("webhooks", "create", "--url", RECEIVER, "--event", "accounting_synced_record.error", *args, "--json")
    assert result.status == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_create_prints_the_secret_once_then_list_show_update_rotate_delete(cli: Cli) -> None:
    org = organization()
    created = cli("webhooks", "create", "--url", RECEIVER, "--event", "accounting_synced_record.error",
                  "--event", "accounting_sync.finished", "--organization", str(org.id), "--description", "alerts")
    assert created.status == 0, created.stderr
    [secret] = created.stdout.split()
    assert secret.startswith("whsec_") and "not shown again" in created.stderr

    listed = cli("webhooks", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert row["organization_id"] == str(org.id) and row["event_types"] == ["accounting_synced_record.error",
                                                                             "accounting_sync.finished"]
    assert secret not in listed.stdout and "8.8.8.8" in cli("webhooks", "list").stdout
    shown = json.loads(cli("webhooks", "show", row["id"], "--json").stdout)
    assert shown["deliveries"] == {"pending": 0, "retrying": 0, "delivered": 0, "failed": 0}
    assert secret not in cli("webhooks", "show", row["id"]).stdout

    updated = cli("webhooks", "update", row["id"], "--event", "accounting_connection.deauthorized", "--json")
    assert updated.status == 0 and json.loads(updated.stdout)["event_types"] == ["accounting_connection.deauthorized"]
    assert cli("webhooks", "update", row["id"]).stdout.strip().endswith("unchanged")

    rotated = cli("webhooks", "rotate-secret", row["id"], "--grace", "60")
    [new_secret] = rotated.stdout.split()
    assert rotated.status == 0 and new_secret.startswith("whsec_") and new_secret != secret
    assert "the old one also signs until" in rotated.stderr

    assert cli("webhooks", "delete", row["id"]).status == 0
    assert json.loads(cli("webhooks", "list", "--json").stdout) == []


def test_platform_wide_and_per_organization_lists(cli: Cli) -> None:
    org = organization()
    mine = _create(cli, "--organization", str(org.id))
    everyone = _create(cli, "--platform")
    assert everyone["organization_id"] is None and everyone["scope"] == "platform"
    assert [r["id"] for r in json.loads(cli("webhooks", "list", "--platform", "--json").stdout)] == [everyone["id"]]
    assert [r["id"] for r in json.loads(cli("webhooks", "list", "--organization", str(org.id), "--json").stdout)] == [
        mine["id"]]


@pytest.mark.parametrize(("args", "says"), [
    (["--url", "https://10.1.2.3/hook", "--event", "accounting_sync.finished", "--platform"],
     "Invalid value for '--url': 10.1.2.3 is a private address"),
    (["--url", "http://8.8.8.8/hook", "--event", "accounting_sync.finished", "--platform"],
     "Invalid value for '--url': must be an https:// URL"),
    (["--url", RECEIVER, "--event", "invoice.paid", "--platform"], "Invalid value for '--event'"),
    (["--url", RECEIVER, "--platform"], "give at least one --event"),
    (["--url", RECEIVER, "--event", "accounting_sync.finished"], "give exactly one of --organization"),
])
def test_bad_usage_is_one_line_and_status_2(cli: Cli, args: list[str], says: str) -> None:
    result = cli("webhooks", "create", *args)
    assert result.status == 2, result
    assert result.stdout == "" and len(result.error_lines) == 1 and says in result.error_lines[0], result.stderr


def test_an_unknown_id_is_status_1(cli: Cli) -> None:
    missing = str(uuid.uuid4())
    for args in (["show", missing], ["delete", missing], ["rotate-secret", missing], ["redeliver", missing]):
        result = cli("webhooks", *args)
        assert result.status == 1, (args, result)
        assert result.error_lines[-1].startswith("booksync: no webhook ")
    nowhere = cli("webhooks", "create", "--url", RECEIVER, "--event", "accounting_sync.finished",
                  "--organization", missing)
    assert nowhere.status == 1 and nowhere.error_lines == [f"booksync: no organization {missing}"]


def test_deliveries_and_redeliver(cli: Cli) -> None:
    from models import AccountingConnection, session_scope
    from webhooks import emit

    org = organization()
    subscription = _create(cli, "--organization", str(org.id), "--event", "accounting_connection.deauthorized")
    conn = connection(org)
    with session_scope() as session:
        row = session.get(AccountingConnection, conn.id)
        emit(row, session)  # type: ignore[arg-type]
        row.status = "deauthorized"  # type: ignore[union-attr]

    [delivery] = json.loads(cli("webhooks", "deliveries", "--json").stdout)
    assert delivery["subscription_id"] == subscription["id"] and delivery["status"] == "pending"
    assert delivery["event_type"] == "accounting_connection.deauthorized"
    table = cli("webhooks", "deliveries", "--subscription", subscription["id"]).stdout
    assert "accounting_connection.deauthorized" in table and "pending" in table
    assert cli("webhooks", "deliveries", "--status", "delivered", "--json").stdout.strip() == "[]"
    assert "Invalid value for '--status'" in cli("webhooks", "deliveries", "--status", "sent").stderr
    shown = json.loads(cli("webhooks", "show", subscription["id"], "--json").stdout)
    assert shown["deliveries"]["pending"] == 1

    again = cli("webhooks", "redeliver", delivery["id"], "--json")
    assert again.status == 0, again.stderr
    assert json.loads(again.stdout)["event_id"] == delivery["event_id"]
