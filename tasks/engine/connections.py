"""Building a connection's provider: decrypted credentials in, rotated credentials saved before use."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from config.logging import register_secret
from config.secrets import Credentials
from models import AccountingConnection
from models.db import session_scope
from providers.base import AccountingProvider
from providers.registry import provider_class
from tasks.engine.credentials import DatabaseCredentialStore

ProviderFactory = Callable[[AccountingConnection], AccountingProvider]


def _saver(connection_id: uuid.UUID) -> Callable[[Credentials], None]:
    def save(credentials: Credentials) -> None:
        register_secret(*credentials.secret_values())
        with session_scope() as session:
            connection = session.get(AccountingConnection, connection_id)
            if connection is not None:
                connection.credentials = credentials.reveal()

    return save


def open_provider(connection: AccountingConnection) -> AccountingProvider:
    """The connection's provider; rotated OAuth tokens go through the connection's refresh lease."""
    credentials = Credentials(connection.credentials or {})
    register_secret(*credentials.secret_values())
    cls = provider_class(connection.platform)
    return cls(connection.settings or {}, credentials, credential_store=DatabaseCredentialStore(connection.id))
