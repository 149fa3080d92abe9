"""All settings, read from the environment (prefix ``BOOKSYNC_``) in this one place.

With nothing set, the embedded default applies: a SQLite file and kombu's ``filesystem://`` broker
under ``.booksync/`` in the working directory, and a secret key generated once into
``.booksync/secret.key``. A malformed value fails at start with one line naming the variable.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from providers.addresses import AddressPolicy

ENV_PREFIX = "BOOKSYNC_"
RATE_LIMIT_SCHEMES = ("redis", "rediss", "sqlite")


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
    full_reconcile_every: int = Field(
        default=24, ge=1,
        description="Every Nth sync is a full reconcile: it lists every document id in the accounting system "
        "(about one call per 1,000 documents) to find deletions.",
    )
    pull_lag_seconds: int = Field(
        default=900, ge=0,
        description="Each incremental pull re-reads this much before its cursor, for changes stamped early and "
        "committed late.",
    )
    schedule_interval_seconds: float = Field(
        default=60.0, ge=1, le=3600,
        description="How often beat looks for due connections (and for syncs whose worker died).",
    )
    schedule_partitions: int = Field(
        default=1, ge=1, le=256,
        description="Split each beat tick's fan-out into this many tasks that workers run in parallel.",
    )
    lease_seconds: int = Field(
        default=60, ge=15,
        description="A sync's lease on its connection, renewed by a heartbeat every third of it; a dead worker's "
        "lease lapses after it and the next beat tick starts the sync again.",
    )
    push_max_attempts: int = Field(
        default=5, ge=1, description="A record whose push fails this many times in a row without an answer is an error."
    )
    push_outage_after: int = Field(
        default=3, ge=1,
        description="This many retryable push failures in a row end the sync (the provider is down); it retries later.",
    )
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
    http_timeout_seconds: float = Field(default=30.0, gt=0, description="Read timeout of one provider socket read.")
    provider_call_timeout_seconds: float = Field(
        default=120.0, gt=0, le=3600,
        description="Longest one provider call may take, from sending to the last byte of the answer.",
    )
    provider_max_response_bytes: int = Field(
        default=25_000_000, ge=1024, description="Largest provider answer read (after decompression); larger ones are refused.",
    )
    rate_limit_url: str | None = Field(
        default=None,
        description="Where the providers' rate-limit counters live (redis:// or sqlite:///); default: the broker "
        "when it is Redis, else a SQLite file under home.",
    )
    rate_limit_max_wait_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="Longest a provider call waits for its rate limit; beyond that the sync stops and retries later.",
    )
    rate_limit_time_scale: float = Field(
        default=1.0, gt=0, description="Divide every provider rate-limit window by this (sandboxes with scaled limits).",
    )
    database_connect_timeout_seconds: int = Field(default=5, ge=2, le=120)
    database_statement_timeout_seconds: float = Field(default=60.0, gt=0)
    database_idle_in_transaction_timeout_seconds: float = Field(
        default=60.0, gt=0, description="PostgreSQL ends a booksync session left idle in a transaction this long."
    )
    database_tcp_user_timeout_seconds: float = Field(
        default=15.0, gt=0, description="A silent network partition to PostgreSQL fails a call after this long."
    )
    public_url: str = Field(default="http://127.0.0.1:8080", description="Where OAuth callbacks land.")
    oauth_state_max_age_seconds: int = Field(
        default=1800, ge=60, description="How long a connection_url's consent state stays usable."
    )
    xero_client_id: str = Field(default="", description="The Xero app's client id (developer.xero.com/app/manage).")
    xero_client_secret: SecretStr = Field(default=SecretStr(""), description="The Xero app's client secret.")
    xero_authorize_url: str = Field(default="https://login.xero.com/identity/connect/authorize")
    xero_token_url: str = Field(default="https://identity.xero.com/connect/token")
    xero_revocation_url: str = Field(default="https://identity.xero.com/connect/revocation")
    xero_connections_url: str = Field(default="https://api.xero.com/connections")
    xero_api_url: str = Field(default="https://api.xero.com/api.xro/2.0", description="The Accounting API's base.")
    quickbooks_client_id: str = Field(
        default="", description="The QuickBooks app's production client id (developer.intuit.com, Keys & credentials)."
    )
    quickbooks_client_secret: SecretStr = Field(default=SecretStr(""), description="Its production client secret.")
    quickbooks_sandbox_client_id: str = Field(
        default="", description="The app's development client id, for quickbooks_online_sandbox (default: the "
        "production one).",
    )
    quickbooks_sandbox_client_secret: SecretStr = Field(
        default=SecretStr(""), description="The app's development client secret (default: the production one)."
    )
    quickbooks_authorize_url: str = Field(default="https://appcenter.intuit.com/connect/oauth2")
    quickbooks_token_url: str = Field(default="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer")
    quickbooks_revocation_url: str = Field(default="https://developer.api.intuit.com/v2/oauth2/tokens/revoke")
    quickbooks_api_url: str = Field(
        default="https://quickbooks.api.intuit.com", description="The Accounting API's host for quickbooks_online."
    )
    quickbooks_sandbox_api_url: str = Field(
        default="https://sandbox-quickbooks.api.intuit.com",
        description="The Accounting API's host for quickbooks_online_sandbox (Intuit's sandbox companies).",
    )
    quickbooks_authorization_warning_days: int = Field(
        default=30, ge=1, le=365,
        description="A QuickBooks connection shows a warning this many days before its authorization ends for good "
        "(Intuit's five-year cap on a consent).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60,
        description="Longest one webhook delivery may take, connecting to the last byte of the answer.",
    )
    webhook_retry_base_seconds: float = Field(
        default=10.0, gt=0, description="Wait before a failed webhook delivery's first retry; it doubles each time."
    )
    webhook_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between two attempts of one webhook delivery."
    )
    webhook_retry_window_seconds: float = Field(
        default=86_400.0, gt=0,
        description="A webhook delivery failing this long after its first attempt is given up and its subscription "
        "marked failing.",
    )
    webhook_sweep_seconds: float = Field(
        default=30.0, ge=0.5, le=3600,
        description="How often beat re-sends webhook deliveries that are due (retries, and any a crash left).",
    )
    webhook_secret_grace_seconds: int = Field(
        default=86_400, ge=0, le=30 * 86_400,
        description="After a signing secret is rotated, how long deliveries are also signed with the old one.",
    )
    webhook_retention_days: int = Field(
        default=30, ge=1, description="Finished webhook deliveries and their events are deleted after this many days."
    )
    webhook_require_https: bool = Field(default=True, description="Refuse webhook URLs that are not https://.")
    webhook_allowed_addresses: str = Field(
        default="",
        description="Kinds of address webhook URLs may point at besides public ones, comma-separated: loopback, "
        "private, link_local, metadata, multicast, reserved. Empty: public addresses only (no SSRF).",
    )
    provider_allowed_addresses: str = Field(
        default="",
        description="Kinds of address an accounting-system server URL a tenant gives (Tryton's url) may point at "
        "besides public ones, comma-separated: loopback, private, link_local, metadata, multicast, reserved. "
        "Empty: public addresses only, so that no tenant can make booksync call into its own network. Set "
        "loopback (or private) where the Tryton server runs on this host (or this network).",
    )

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

    @field_validator("xero_authorize_url", "xero_token_url", "xero_revocation_url", "xero_connections_url",
                     "xero_api_url", "quickbooks_authorize_url", "quickbooks_token_url", "quickbooks_revocation_url",
                     "quickbooks_api_url", "quickbooks_sandbox_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _transport_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        if not scheme or "://" not in value:
            raise ValueError("must be a URL such as redis://127.0.0.1:6379/0 or filesystem://")
        return value

    @field_validator("webhook_allowed_addresses", "provider_allowed_addresses")
    @classmethod
    def _address_kinds(cls, value: str) -> str:
        from providers.addresses import AddressKind

        names = [part.strip().lower() for part in value.split(",") if part.strip()]
        known = {kind.value for kind in AddressKind}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"unknown address kind {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return ",".join(names)

    @property
    def webhook_address_policy(self) -> AddressPolicy:
        """Where webhook deliveries may connect: public addresses, and the kinds allowed by the setting."""
        from providers.addresses import AddressPolicy

        return AddressPolicy.allowing(part for part in self.webhook_allowed_addresses.split(",") if part)

    @property
    def provider_address_policy(self) -> AddressPolicy:
        """Where calls to a server URL a tenant gave may connect: public addresses, and the allowed kinds."""
        from providers.addresses import AddressPolicy

        return AddressPolicy.allowing(part for part in self.provider_allowed_addresses.split(",") if part)

    @field_validator("rate_limit_url")
    @classmethod
    def _rate_limit_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        if scheme not in RATE_LIMIT_SCHEMES or "://" not in value:
            raise ValueError("must be a redis://host:port/db (or rediss://) or sqlite:///path URL")
        return value

    @property
    def resolved_rate_limit_url(self) -> str:
        """The rate-limit store: shared by every worker on every host when it is Redis."""
        if self.rate_limit_url:
            return self.rate_limit_url
        if urlsplit(self.resolved_broker_url).scheme in ("redis", "rediss"):
            return self.resolved_broker_url
        return f"sqlite:///{(self.home / 'ratelimits.sqlite3').resolve()}"

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
