"""After real flows that handle every kind of secret, no secret is in clear text anywhere booksync writes.

The flows: API keys made; a Tryton-speaking server connected with a password, which then echoes that
password in an error; Xero connected through its OAuth flow (access and refresh tokens, refreshed once),
synced by a real worker, then disconnected (the token revoked). Then a dump of everything booksync wrote is
searched for each secret: every row of every table, every key of the broker's (and result backend's) Redis
— task messages and results, so task arguments too —, the worker's log, this process's logs, and the API's
answers (error messages included).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from structlog.testing import capture_logs

from models import AccountingConnection, Base
from models.db import get_engine, get_sessionmaker
from sandboxes.xero.sandbox import SandboxInfo, consent_location
from tests.api.conftest import make_tenant
from tests.conftest_xero import xero_settings
from tests.faults.conftest import booksync_stack
from tests.faults.tally import TALLY
from tests.faults.test_worker_recovery import _client
from tests.support.env import app_publishing_to, booksync_env
from tests.support.hostile_tryton import hostile_tryton
from tests.support.processes import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PASSWORD = "s3cret-Tryton-pw-" + uuid.uuid4().hex[:8]
PUBLIC_URL = "http://127.0.0.1:8080"


def _everything_in_the_database() -> str:
    engine = get_engine()
    dump = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                dump.append(f"{table}: {row!r}")
    return "\n".join(dump)


def _everything_in_redis(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    dump = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = kind
        dump.append(f"{key!r}: {value!r}")
    text_dump = "\n".join(dump)
    # task messages carry their bodies base64-encoded: decode what looks like it, so arguments are searched too
    import base64

    decoded = []
    for blob in re.findall(r'"body": "([A-Za-z0-9+/=]{16,})"', text_dump.replace('\\"', '"')):
        try:
            decoded.append(base64.b64decode(blob).decode("utf-8", "replace"))
        except ValueError:
            pass
    return text_dump + "\n" + "\n".join(decoded)


def test_no_secret_in_clear_text_anywhere_booksync_writes(
    pg_url: str, tmp_path: Path, xero_sandbox: SandboxInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: dict[str, str] = {"tryton password": PASSWORD}
    answers: list[str] = []
    with get_sessionmaker()() as session:
        tenant = make_tenant(session, "Secretive Org")
        other = make_tenant(session, "Xero Org")
    secrets["api key"], secrets["another api key"] = tenant.key, other.key
    from config import get_settings

    secrets["fernet key"] = get_settings().fernet_keys()[0].decode()
    secrets["xero client secret"] = xero_sandbox.client_secret

    with booksync_stack(tmp_path, pg_url, public_url=PUBLIC_URL,
                        **{k: v for k, v in xero_settings(xero_sandbox).items()}) as stack, capture_logs() as logs:
        stack.worker("secrets")
        with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], broker_url=stack.redis.url,
                          public_url=PUBLIC_URL, **xero_settings(xero_sandbox)), \
                app_publishing_to(stack.redis.url), TestClient(
                __import__("api.app", fromlist=["create_app"]).create_app()) as api:
            # 1. a Tryton-speaking server, connected with a password, that echoes it in an error
            with hostile_tryton() as server:
                body = {"platform": "tryton", "settings": server.settings,
                        "credentials": {"username": "admin", "password": PASSWORD}}
                created = api.post("/accounting-connections", headers=tenant.headers, json=body)
                answers.append(created.text)
                assert created.status_code == 201, created.text
                server.misbehave("model.account.tax.search_read", "rpc_error",
                                 ["UserError", [f"login admin/{PASSWORD} may not read taxes", "", None]])
                client = _client(stack.redis.url)
                connection_id = created.json()["id"]
                result = client.send_task("tasks.sync_connection", args=[connection_id, "manual"])
                answers.append(json.dumps(result.get(timeout=120)))
                shown = api.get(f"/accounting-connections/{connection_id}", headers=tenant.headers)
                answers.append(shown.text)
                assert "may not read taxes" in shown.text
                api.post(f"/accounting-connections/{connection_id}/disconnect", headers=tenant.headers)

            # 2. Xero through its OAuth flow, synced by the worker, refreshed, then disconnected (revoked)
            organisation = httpx.post(f"{xero_sandbox.url}/_sandbox/tenants", json={"name": "Secret Books"},
                                      timeout=30).raise_for_status().json()["tenant_id"]
            created = api.post("/accounting-connections", headers=other.headers, json={"platform": "xero"})
            answers.append(created.text)
            location = consent_location(xero_sandbox, redirect_uri=f"{PUBLIC_URL}/oauth/callback",
                                        authorize_url=created.json()["connection_url"], tenant_ids=[organisation])
            parts = urlsplit(location)
            answers.append(api.get(f"{parts.path}?{parts.query}").text)
            xero_id = created.json()["id"]
            with get_sessionmaker()() as session:
                stored = session.get(AccountingConnection, uuid.UUID(xero_id))
                assert stored is not None and stored.credentials
                for name in ("access_token", "refresh_token"):
                    secrets[f"xero {name} (first)"] = str(stored.credentials[name])
            httpx.post(f"{xero_sandbox.url}/_sandbox/faults", json={"kind": "expire_access_tokens"},
                       timeout=10).raise_for_status()
            result = client.send_task("tasks.sync_connection", args=[xero_id, "manual"])
            answers.append(json.dumps(result.get(timeout=120)))
            with get_sessionmaker()() as session:
                stored = session.get(AccountingConnection, uuid.UUID(xero_id))
                assert stored is not None and stored.credentials
                assert stored.credentials["refresh_token"] != secrets["xero refresh_token (first)"], "refreshed"
                for name in ("access_token", "refresh_token"):
                    secrets[f"xero {name} (rotated)"] = str(stored.credentials[name])
            answers.append(api.post(f"/accounting-connections/{xero_id}/disconnect", headers=other.headers).text)

            def revoked() -> bool:
                with get_sessionmaker()() as session:
                    row = session.get(AccountingConnection, uuid.UUID(xero_id))
                    return row is not None and row.credentials is None

            try:
                wait_for(revoked, timeout=60, what="the disconnect task to forget the tokens")
            except TimeoutError as exc:
                tail = "\n".join((tmp_path / "worker-secrets.log").read_text().splitlines()[-60:])
                raise AssertionError(f"{exc}; the worker's log ends:\n{tail}") from None
            time.sleep(1)  # the worker's last log lines
        worker_log = (tmp_path / "worker-secrets.log").read_text()
        broker = _everything_in_redis(stack.redis.url)

    database = _everything_in_the_database()
    places = {"the database": database, "the broker and results (task arguments too)": broker,
              "the worker's log": worker_log, "this process's logs": repr(logs) + capsys.readouterr().out,
              "the API's answers": "\n".join(answers)}
    found = [f"{secret} in {place}" for secret, value in secrets.items() for place, dump in places.items()
             if value in dump]
    TALLY.fault(not found)
    assert not found, found
    assert len(database) > 1000 and len(broker) > 100 and "sync.finished" in worker_log, "the dumps hold something"
    assert Base.metadata.tables.keys() <= set(inspect(get_engine()).get_table_names())
