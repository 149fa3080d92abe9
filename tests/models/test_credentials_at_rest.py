from __future__ import annotations

import logging

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session

from config import secrets
from config.logging import configure_logging, reset_logging
from config.secrets import Credentials
from models import AccountingConnection, Organization

PASSWORD = "correct-horse-battery-staple-42"
TOKEN = "tok_live_9f8e7d6c5b4a39281706"


def test_credentials_are_encrypted_in_the_database_and_read_back(session: Session) -> None:
    org = Organization(name="Acme")
    session.add(org)
    session.flush()
    connection = AccountingConnection(
        organization_id=org.id, platform="tryton", credentials=Credentials(password=PASSWORD, refresh_token=TOKEN)
    )
    session.add(connection)
    session.commit()

    raw = session.execute(text("select credentials from accounting_connections")).scalar_one()
    assert PASSWORD not in raw and TOKEN not in raw
    dump = "\n".join(str(row) for row in session.execute(text("select * from accounting_connections")))
    assert PASSWORD not in dump

    session.expire_all()
    assert session.get(AccountingConnection, connection.id).credentials == {"password": PASSWORD, "refresh_token": TOKEN}  # type: ignore[union-attr]


def test_key_rotation_keeps_old_tokens_readable(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    from cryptography.fernet import Fernet

    from config.settings import reset_settings_cache

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("BOOKSYNC_SECRET_KEY", old)
    reset_settings_cache()
    token = secrets.encrypt_json({"password": PASSWORD})
    monkeypatch.setenv("BOOKSYNC_SECRET_KEY", f"{new},{old}")
    reset_settings_cache()
    assert secrets.decrypt_json(token) == {"password": PASSWORD}
    rotated = secrets.rotate(token)
    monkeypatch.setenv("BOOKSYNC_SECRET_KEY", new)
    reset_settings_cache()
    assert secrets.decrypt_json(rotated) == {"password": PASSWORD}
    with pytest.raises(secrets.DecryptionError) as excinfo:
        secrets.decrypt_json(token)
    assert PASSWORD not in str(excinfo.value)


def test_credentials_never_show_their_values(capsys: pytest.CaptureFixture[str]) -> None:
    credentials = Credentials(username="admin", password=PASSWORD, access_token=TOKEN)
    configure_logging("json", force=True, cache=False)
    structlog.get_logger("test").info("connecting", credentials=credentials, password=PASSWORD, note=f"token {TOKEN}")
    logging.getLogger("plain").warning("Authorization: Bearer %s", TOKEN)
    try:
        raise RuntimeError(f"failed with {credentials!r}")
    except RuntimeError as exc:
        message = str(exc)
    err = capsys.readouterr().err
    for secret in (PASSWORD, TOKEN):
        assert secret not in repr(credentials) and secret not in str(credentials)
        assert secret not in message
    assert PASSWORD not in err
    assert "connecting" in err and "[redacted]" in err
    reset_logging()
