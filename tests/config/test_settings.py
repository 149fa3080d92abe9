from __future__ import annotations

import stat
from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings
from tests.support.env import booksync_env


def test_nothing_set_means_the_embedded_default(tmp_path: Path) -> None:
    with booksync_env(home=str(tmp_path)):
        settings = load_settings()
        assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'booksync.db'}"
        assert settings.resolved_broker_url == "filesystem://"
        keys = settings.fernet_keys()
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with booksync_env(home=str(tmp_path)):
        assert load_settings().fernet_keys() == keys, "the key is generated once, then reused"


@pytest.mark.parametrize(
    ("name", "value"),
    [("database_url", "not a url"), ("database_url", "mysql://x/y"), ("broker_url", "localhost:6379"),
     ("sync_period_seconds", "soon")],
)
def test_a_malformed_setting_fails_with_one_line_naming_the_variable(name: str, value: str) -> None:
    with booksync_env(**{name: value}), pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert message.startswith(f"BOOKSYNC_{name.upper()}:")
    assert "\n" not in message


def test_a_malformed_secret_key_is_named_and_not_echoed() -> None:
    with booksync_env(secret_key="hunter2-is-not-a-key"), pytest.raises(SettingsError) as excinfo:
        load_settings().fernet_keys()
    assert "BOOKSYNC_SECRET_KEY" in str(excinfo.value)
    assert "hunter2" not in str(excinfo.value)


def test_postgresql_urls_use_psycopg_3() -> None:
    with booksync_env(database_url="postgresql://u@127.0.0.1/db"):
        assert load_settings().resolved_database_url.startswith("postgresql+psycopg://")
