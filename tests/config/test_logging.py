"""The redaction processor removes secrets wherever they appear; a real sync logs one summary line and no secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from config.logging import REDACTED, configure_logging, redact_processor, redact_text, register_secret, reset_logging
from tests.conftest_tryton import tryton_sandbox, tryton_template  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_secret_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets registered by earlier tests in this process (the sandbox's password is "admin") stay out."""
    import config.logging

    monkeypatch.setattr(config.logging, "_known_secrets", set())


def redact(**event: Any) -> dict[str, Any]:
    return dict(redact_processor(None, "info", dict(event)))


@pytest.mark.parametrize(
    "key",
    ["password", "PASSWORD", "db_password", "passwd", "token", "access_token", "refresh_token", "id_token",
     "secret", "client_secret", "secret_key", "api_key", "api-key", "apikey", "X-Api-Key", "authorization",
     "Authorization", "credentials", "session", "cookie", "Set-Cookie", "private_key"],
)
def test_values_of_secret_named_keys_are_removed(key: str) -> None:
    assert redact(**{key: "s3cr3t-value-123"})[key] == REDACTED


def test_other_values_and_non_secret_numbers_stay() -> None:
    event = redact(event="sync.finished", connection_id="8c1f", pulled={"bill": 3}, token_expires_in=3600,
                   has_password=True, errors=None)
    assert event == {"event": "sync.finished", "connection_id": "8c1f", "pulled": {"bill": 3},
                     "token_expires_in": 3600, "has_password": True, "errors": None}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("calling with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-x_y", "eyJhbGciOiJIUzI1NiJ9"),
        ("header authorization=Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
        ("Tryton answered for Session YWRtaW46MTpzZXNzaW9uLWtleQ==", "YWRtaW46MTpzZXNzaW9uLWtleQ=="),
        ("connecting to postgresql+psycopg://booksync:hunter2-pw@db:5432/booksync", "hunter2-pw"),
        ("broker redis://:redis-only-password@cache:6379/0 is down", "redis-only-password"),
        ("POST /token grant_type=refresh_token&refresh_token=rt-abc-123&client_id=x", "rt-abc-123"),
        ('provider said {"error": "invalid", "access_token": "at-xyz-789"}', "at-xyz-789"),
        ("config {'client_secret': 'cs-456-def', 'url': 'x'}", "cs-456-def"),
        ("login failed: password=pw-in-a-message; try again", "pw-in-a-message"),
        ("GET https://api.example/v1?api_key=ak-000-zzz&page=2", "ak-000-zzz"),
        ("loaded private_key=pk-111-aaa from the environment", "pk-111-aaa"),
    ],
)
def test_secrets_inside_text_are_removed(text: str, secret: str) -> None:
    assert secret not in redact_text(text)
    assert secret not in redact(event=text)["event"]
    assert REDACTED in redact_text(text)


def test_registered_secrets_are_removed_from_any_text() -> None:
    register_secret("tryton-admin-pw-42", None, "abc")
    event = redact(event="could not log in as admin with tryton-admin-pw-42", detail="echo: tryton-admin-pw-42!")
    assert event["event"] == f"could not log in as admin with {REDACTED}"
    assert event["detail"] == f"echo: {REDACTED}!"
    assert redact(event="abc is too short to be registered")["event"] == "abc is too short to be registered"


def test_nested_dicts_and_lists_are_walked() -> None:
    event = redact(
        request={"headers": {"Authorization": "Bearer abcdef123456", "Accept": "application/json"},
                 "body": [{"password": "pw-1"}, ("token", {"refresh_token": "rt-2"}), "Bearer zyxwvu987654"]},
        connection={"credentials": {"username": "admin", "password": "pw-3"}, "platform": "tryton"},
    )
    assert event == {
        "request": {"headers": {"Authorization": REDACTED, "Accept": "application/json"},
                    "body": [{"password": REDACTED}, ["token", {"refresh_token": REDACTED}], f"Bearer {REDACTED}"]},
        "connection": {"credentials": REDACTED, "platform": "tryton"},
    }


@pytest.fixture
def captured_json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("json", "INFO", force=True, cache=False)
    yield stream
    structlog.contextvars.clear_contextvars()
    monkeypatch.undo()
    reset_logging()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_exception_text_is_redacted_in_structlog_and_standard_library_records(captured_json_logs: io.StringIO) -> None:
    log = structlog.get_logger("booksync.test")
    try:
        raise RuntimeError("provider refused token=tok-in-exception-1 for https://u:pw-in-url-2@host/x")
    except RuntimeError:
        log.exception("push.failed", object_type="bill")
        logging.getLogger("celery.app.trace").exception("Task failed: %s", "password=pw-in-args-3")
    text = captured_json_logs.getvalue()
    for secret in ("tok-in-exception-1", "pw-in-url-2", "pw-in-args-3"):
        assert secret not in text
    ours, celerys = _lines(captured_json_logs)
    assert ours["event"] == "push.failed" and ours["object_type"] == "bill"
    assert "RuntimeError: provider refused token=[redacted]" in ours["exception"]
    assert celerys["logger"] == "celery.app.trace" and celerys["level"] == "error"
    assert celerys["event"] == "Task failed: password=[redacted]"
    assert "RuntimeError" in celerys["exception"]


def test_bound_task_context_is_on_standard_library_records_too(captured_json_logs: io.StringIO) -> None:
    from config.logging import bind

    bind(task_id="7b4e", task_name="tasks.sync_connection")
    logging.getLogger("celery.worker").info("Task %s succeeded", "tasks.sync_connection[7b4e]")
    structlog.get_logger("tasks.engine").info("sync.finished", status="done", api_key="ak-999")
    celerys, ours = _lines(captured_json_logs)
    assert celerys["task_id"] == "7b4e" and celerys["task_name"] == "tasks.sync_connection"
    assert celerys["event"] == "Task tasks.sync_connection[7b4e] succeeded"
    assert ours["task_id"] == "7b4e" and ours["status"] == "done" and ours["api_key"] == REDACTED
    assert {"timestamp", "level", "logger"} <= set(ours)


# -- a real worker, a real Tryton ----------------------------------------------------------------

BAD_PASSWORD = "Wr0ng-Tryton-Pass-4471"
URL_PASSWORD = "Url-Userinfo-Secret-9921"
OTHER_PASSWORD = "Unreachable-Server-Pass-5150"
SECRETS = (BAD_PASSWORD, URL_PASSWORD, OTHER_PASSWORD)


@pytest.fixture(scope="module")
def logged_worker(postgres_url: str, redis_url: str, test_home: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A worker logging JSON at DEBUG, giving up on a retryable error at once (so its error is recorded)."""
    from tests.support.databases import migrated_engine
    from tests.support.processes import celery_worker_args, running, wait_for

    migrated_engine(postgres_url).dispose()
    log_path = tmp_path_factory.mktemp("logged-worker") / "worker.log"
    env = {"BOOKSYNC_DATABASE_URL": postgres_url, "BOOKSYNC_BROKER_URL": redis_url, "BOOKSYNC_HOME": str(test_home),
           "BOOKSYNC_LOG_FORMAT": "json", "BOOKSYNC_LOG_LEVEL": "DEBUG", "BOOKSYNC_TASK_MAX_RETRIES": "0"}
    with running(celery_worker_args(concurrency=1, hostname="logged@%h"), env, log_path):
        wait_for(lambda: "ready." in log_path.read_text(), timeout=60, what="the logging test's worker")
        yield {**env, "log": str(log_path)}


def _connect(settings: dict[str, Any], credentials: dict[str, str]) -> tuple[Any, Any]:
    from datetime import UTC, date, datetime, timedelta
    from decimal import Decimal

    from models import AccountingConnection, Counterpart, Organization, Payable, PayableLineItem, session_scope

    with session_scope() as session:
        org = Organization(name="Logs Ltd")
        session.add(org)
        session.flush()
        connection = AccountingConnection(organization_id=org.id, platform="tryton", status="connected",
                                          settings=settings, credentials=credentials, backfill=True,
                                          connected_at=datetime.now(UTC))
        vendor = Counterpart(organization_id=org.id, name="Paper Supplies", is_vendor=True)
        session.add_all([connection, vendor])
        session.flush()
        for number, rate in (("LOG-1", 2000), ("LOG-2", 1700)):
            session.add(Payable(
                organization_id=org.id, counterpart_id=vendor.id, document_number=number, currency="USD",
                subtotal=10_000, tax_amount=rate, total_amount=10_000 + rate, status="waiting_to_be_paid",
                issue_date=date.today(), due_date=date.today() + timedelta(days=30), eligible_at=datetime.now(UTC),
                lines=[PayableLineItem(description=f"{number} paper", quantity=Decimal(1), unit_price=10_000,
                                       total=10_000, tax_rate_value=rate)],
            ))
    return org.id, connection.id


def _sync(connection_id: Any, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    import subprocess

    from tests.support.processes import PROJECT_ROOT, VENV_BIN, subprocess_env

    result = subprocess.run([str(VENV_BIN / "booksync"), "sync", str(connection_id), "--wait", "--json", "--timeout",
                             "120"], env=subprocess_env(env), capture_output=True, text=True, timeout=180,
                            cwd=PROJECT_ROOT)
    return json.loads(result.stdout), result.stdout + result.stderr


def _finished_line(log_path: str, connection_id: Any) -> dict[str, Any]:
    from tests.support.processes import wait_for

    def find() -> dict[str, Any] | None:
        for line in Path(log_path).read_text().splitlines():
            if line.startswith("{") and '"sync.finished"' in line:
                record = json.loads(line)
                if record.get("connection_id") == str(connection_id):
                    return dict(record)
        return None

    return dict(wait_for(find, timeout=30, what="the sync.finished line"))


@pytest.mark.slow
def test_a_sync_logs_one_summary_line_with_every_field(
    logged_worker: dict[str, str], tryton_sandbox: Any, pg_url: str
) -> None:
    org_id, connection_id = _connect(tryton_sandbox.settings, tryton_sandbox.credentials)
    outcome, _ = _sync(connection_id, logged_worker)
    assert outcome["state"] == "SUCCESS", outcome
    summary = outcome["result"]
    assert (summary["status"], summary["trigger"], summary["platform"]) == ("done", "manual", "tryton")
    assert summary["pushed"]["bill"] == 1 and summary["errors"]["bill"] == 1
    assert summary["pulled"]["tax_rate"] >= 1

    line = _finished_line(logged_worker["log"], connection_id)
    assert line["event"] == "sync.finished"
    assert line["level"] == "info" and line["logger"] == "tasks.engine.sync"
    assert line["task_name"] == "tasks.sync_connection" and line["task_id"] == outcome["task_id"]
    assert line["connection_id"] == str(connection_id)
    assert line["organization_id"] == str(org_id)
    for field in ("platform", "trigger", "status", "message", "pulled", "pushed", "errors", "duration_ms"):
        assert line[field] == summary[field], field
    assert isinstance(line["duration_ms"], int) and line["duration_ms"] > 0
    assert {"timestamp"} <= set(line)


@pytest.mark.slow
def test_secrets_in_credentials_and_provider_errors_reach_no_log_argument_or_error_record(
    logged_worker: dict[str, str], tryton_sandbox: Any, pg_url: str, redis_url: str
) -> None:
    import socket

    import redis

    from models import AccountingConnection, AccountingSyncedRecord, session_scope

    _, wrong_password = _connect(tryton_sandbox.settings, {"username": "admin", "password": BAD_PASSWORD})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    _, unreachable = _connect({"url": f"http://ops:{URL_PASSWORD}@127.0.0.1:{closed_port}", "database": "books"},
                              {"username": "admin", "password": OTHER_PASSWORD})

    refused, refused_output = _sync(wrong_password, logged_worker)
    assert refused["state"] == "SUCCESS" and refused["result"]["status"] == "failed", refused
    failed, failed_output = _sync(unreachable, logged_worker)
    assert failed["state"] in {"SUCCESS", "FAILURE"}, failed

    with session_scope() as session:
        stored = {str(c.id): (c.status, c.errors) for c in session.query(AccountingConnection)}
        record_errors = [r.errors for r in session.query(AccountingSyncedRecord)]
    assert stored[str(wrong_password)][0] == "deauthorized"
    assert stored[str(wrong_password)][1] and stored[str(unreachable)][1]

    client = redis.Redis.from_url(redis_url)
    metas = {task: json.loads(client.get(f"celery-task-meta-{task}") or b"{}")
             for task in (refused["task_id"], failed["task_id"])}
    client.close()
    assert metas[refused["task_id"]]["args"] == [str(wrong_password), "manual"]
    assert metas[failed["task_id"]]["args"] == [str(unreachable), "manual"]

    places = {
        "the worker's log": Path(logged_worker["log"]).read_text(),
        "the CLI's output": refused_output + failed_output,
        "the connections' errors": json.dumps([errors for _, errors in stored.values()]),
        "the synced records' errors": json.dumps(record_errors),
        "the task results and arguments": json.dumps(metas),
    }
    leaks = {place: [s for s in SECRETS if s in text] for place, text in places.items()}
    assert leaks == {place: [] for place in places}
