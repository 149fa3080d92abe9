"""Adapters by platform name. Adapters register themselves on import; ``load_builtin`` imports them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

from providers.base import AccountingProvider

P = TypeVar("P", bound=type[AccountingProvider])

_registry: dict[str, type[AccountingProvider]] = {}

BUILTIN_MODULES = ("providers.tryton", "providers.xero", "providers.quickbooks")


class UnknownPlatformError(LookupError):
    pass


def register(platform: str) -> Callable[[P], P]:
    def decorator(cls: P) -> P:
        cls.platform = platform
        _registry[platform] = cls
        return cls

    return decorator


def load_builtin() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def provider_class(platform: str) -> type[AccountingProvider]:
    load_builtin()
    try:
        return _registry[platform]
    except KeyError:
        raise UnknownPlatformError(
            f"unknown platform {platform!r}; known: {', '.join(platforms()) or 'none'}"
        ) from None


def platforms() -> list[str]:
    """The platforms a connection can be made to (stand-ins registered by tests are not listed)."""
    load_builtin()
    return sorted(name for name, cls in _registry.items() if cls.listed)
