"""Adapters to accounting systems, behind one contract (``providers.base.AccountingProvider``).

Providers never touch the database.
"""

from providers.base import AccountingProvider
from providers.errors import AuthenticationError, DataError, NotFoundError, ProviderError, RetryableError
from providers.registry import platforms, provider_class, register

__all__ = [
    "AccountingProvider",
    "AuthenticationError",
    "DataError",
    "NotFoundError",
    "ProviderError",
    "RetryableError",
    "platforms",
    "provider_class",
    "register",
]
