"""Every command has --help; bad usage is one clear line and exit status 2; a broken setup is one line too."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cli.support import Cli, run_booksync

COMMANDS = [
    [], ["connections"], ["connections", "list"], ["connections", "show"], ["connections", "defaults"], ["sync"], ["disconnect"], ["records"],
    ["push"], ["tax-rates"], ["tax-rates", "list"], ["api-keys"], ["api-keys", "create"], ["api-keys", "list"],
    ["api-keys", "revoke"], ["organizations"], ["organizations", "create"], ["organizations", "list"],
    ["documents"], ["documents", "import"], ["db"], ["db", "upgrade"], ["db", "current"], ["db", "check"],
    ["demo"], ["api"], ["shell"],
]
SOME_ID = str(uuid.uuid4())


def test_every_command_has_help() -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda args: run_booksync([*args, "--help"], {}, timeout=60), COMMANDS))
    for args, result in zip(COMMANDS, results, strict=True):
        assert result.status == 0, (args, result.stderr)
        assert result.stdout.startswith(f"Usage: booksync {' '.join(args)}".rstrip()), (args, result.stdout[:200])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sync", "not-a-uuid"], "Invalid value for 'CONNECTION_ID'"),
        (["push", "12345"], "Invalid value for 'RECORD_ID'"),
        (["disconnect", "x"], "Invalid value for 'CONNECTION_ID'"),
        (["connections", "show", "x"], "Invalid value for 'CONNECTION_ID'"),
        (["connections", "list", "--organization", "acme"], "Invalid value for '--organization'"),
        (["connections", "list", "--status", "sleeping"], "Invalid value for '--status'"),
        (["records", "--status", "nope"], "Invalid value for '--status'"),
        (["records", "--object-type", "invoice"], "Invalid value for '--object-type'"),
        (["records", "--limit", "0"], "Invalid value for '--limit'"),
        (["records", "--limit", "many"], "Invalid value for '--limit'"),
        (["tax-rates", "list", "--organization", "1"], "Invalid value for '--organization'"),
        (["api-keys", "create"], "give exactly one of --organization ORGANIZATION_ID or --platform"),
        (["api-keys", "create", "--platform", "--organization", SOME_ID], "give exactly one of"),
        (["api-keys", "revoke", "nope"], "neither a key id (UUID) nor a key prefix"),
        (["organizations", "create", "--id", "7", "--name", "Acme"], "Invalid value for '--id'"),
        (["organizations", "create", "--id", SOME_ID], "Missing option '--name'"),
        (["organizations", "create", "--id", SOME_ID, "--name", "  "], "must be 1 to 255 characters"),
        (["sync"], "Missing argument 'CONNECTION_ID'"),
        (["sync", SOME_ID, "--timeout", "0"], "Invalid value for '--timeout'"),
        (["sync", SOME_ID, "--bogus"], "No such option: --bogus"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["api", "--port", "70000"], "Invalid value for '--port'"),
        (["documents", "import", "/nonexistent/file.jsonl"], "Invalid value for 'FILE'"),
        (["connections", "defaults", SOME_ID, "--payment-account", "bank"], "'bank' is not a ledger account id"),
    ],
)
def test_bad_usage_is_one_line_and_status_2(args: list[str], says: str) -> None:
    result = run_booksync(args, {}, timeout=60)
    assert result.status == 2, result
    assert result.stdout == ""
    assert len(result.error_lines) == 1, result.stderr
    assert result.error_lines[0].startswith("booksync: ")
    assert says in result.error_lines[0]


def test_a_group_without_a_command_shows_its_help_and_status_2() -> None:
    result = run_booksync(["connections"], {}, timeout=60)
    assert result.status == 2
    assert "list" in result.stderr and "show" in result.stderr


def test_a_malformed_setting_is_one_line_naming_it_and_status_2() -> None:
    result = run_booksync(["connections", "list"], {"BOOKSYNC_DATABASE_URL": "mysql://x@y/z"}, timeout=60)
    assert result.status == 2
    assert result.error_lines == [
        "booksync: configuration error: BOOKSYNC_DATABASE_URL: must be a sqlite:// or postgresql+psycopg:// URL"
    ]


def test_an_unreachable_database_is_one_line_status_1_without_its_password() -> None:
    env = {"BOOKSYNC_DATABASE_URL": "postgresql+psycopg://booksync:hunter2-secret@127.0.0.1:9/booksync"}
    result = run_booksync(["connections", "list"], env, timeout=60)
    assert result.status == 1
    assert len(result.error_lines) == 1, result.stderr
    assert result.error_lines[0].startswith("booksync: cannot reach the database: ")
    assert "hunter2-secret" not in result.stderr


def test_a_database_without_the_schema_says_to_upgrade_it(cli: Cli, tmp_path: pytest.TempPathFactory) -> None:
    result = cli("records", env={"BOOKSYNC_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"})
    assert result.status == 1
    assert len(result.error_lines) == 1, result.stderr
    assert result.error_lines[0].endswith("run: booksync db upgrade")


def test_the_choices_are_the_models_values() -> None:
    from cli.options import ConnectionStatusChoice, ObjectTypeChoice, SyncStatusChoice
    from models import ConnectionStatus, ObjectType, SyncStatus

    for choice, model in ((ConnectionStatusChoice, ConnectionStatus), (ObjectTypeChoice, ObjectType),
                          (SyncStatusChoice, SyncStatus)):
        assert [c.value for c in choice] == [m.value for m in model]
