"""All settings, read from the environment (prefix ``BOOKSYNC_``) in this one place.

With nothing set, the embedded default applies: a SQLite file and kombu's ``filesystem://`` broker
under ``.booksync/`` in the working directory, and a secret key generated once into
``.booksync/secret.key``. A malformed value fails at start with one line naming the variable.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BOOKSYNC_"


class SettingsError(RuntimeError):
    """A setting is malformed; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    home: Path = Field(default=Path(".booksync"), description="Folder for the embedded default's files.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home.")
    broker_url: str | None = Field(default=None, description="Celery broker; default filesystem:// under home.")
    result_backend: str | None = Field(default=None, description="Celery result backend; follows the broker.")
    secret_key: str | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, newest first; default generated into home/secret.key.",
    )
    sync_period_seconds: int = Field(default=3600, ge=60, description="How often each connection syncs.")
    full_reconcile_every: int = Field(default=24, ge=1, description="Every Nth sync is a full reconcile.")
    schedule_partitions: int = Field(
        default=1, ge=1, le=256,
        description="Split each beat tick's fan-out into this many tasks that workers run in parallel.",
    )
    lease_seconds: int = Field(default=1800, ge=30, description="How long a sync holds its connection.")
    task_soft_time_limit: int = Field(default=1500, ge=10)
    task_time_limit: int = Field(default=1620, ge=20)
    task_max_retries: int = Field(default=5, ge=0)
    task_max_deliveries: int = Field(default=3, ge=1, description="Give up on a task redelivered this often.")
    worker_max_tasks_per_child: int = Field(default=200, ge=1)
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Port of each worker's Prometheus exporter; unset: none (the API's /metrics serves this host's workers).",
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="Address the worker's exporter listens on.")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    pagination_token_max_age_seconds: int = Field(default=86_400, ge=60)
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    public_url: str = Field(default="http://127.0.0.1:8080", description="Where OAuth callbacks land.")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        if url.drivername == "postgresql":
            value = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        elif url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
            raise ValueError("use postgresql+psycopg:// (psycopg 3)")
        return value

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _transport_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        if not scheme or "://" not in value:
            raise ValueError("must be a URL such as redis://127.0.0.1:6379/0 or filesystem://")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'booksync.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def uses_filesystem_broker(self) -> bool:
        return self.resolved_broker_url.startswith("filesystem://")

    @property
    def broker_folder(self) -> Path:
        return (self.home / "broker").resolve()

    @property
    def resolved_result_backend(self) -> str:
        if self.result_backend:
            return self.result_backend
        if self.uses_filesystem_broker:
            return f"file://{(self.home / 'results').resolve()}"
        return self.resolved_broker_url

    def fernet_keys(self) -> list[bytes]:
        """The encryption keys, newest first; the embedded default creates its key once."""
        from config.secrets import load_or_create_keys

        return load_or_create_keys(self)


def _env_name(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + str(loc[0]).upper() if loc else ENV_PREFIX


def load_settings() -> Settings:
    """Read the environment; raise SettingsError with one line naming the variable at fault."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{_env_name(first['loc'])}: {message}") from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
    from config import secrets

    secrets.reset_cache()


__all__ = ["Settings", "SettingsError", "get_settings", "load_settings", "reset_settings_cache", "ENV_PREFIX"]
