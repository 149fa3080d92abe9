"""Encryption keys and secret values.

Credentials are encrypted at rest with Fernet; ``MultiFernet`` lets an operator rotate keys by
putting a new key first in ``BOOKSYNC_SECRET_KEY`` (old ones after it keep decrypting).
``Credentials`` wraps secret values so that ``repr``/``str`` and logs never show them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

if TYPE_CHECKING:
    from config.settings import Settings

_fernet_cache: dict[tuple[bytes, ...], MultiFernet] = {}


def reset_cache() -> None:
    _fernet_cache.clear()


def _parse_keys(raw: str, source: str) -> list[bytes]:
    from config.settings import SettingsError

    keys = [part.strip().encode() for part in raw.split(",") if part.strip()]
    if not keys:
        raise SettingsError(f"{source}: no key given")
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SettingsError(
                f"{source}: key #{index + 1} is not a Fernet key (32 url-safe base64-encoded bytes; "
                "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            ) from None
    return keys


def load_or_create_keys(settings: Settings) -> list[bytes]:
    if settings.secret_key:
        return _parse_keys(settings.secret_key, "BOOKSYNC_SECRET_KEY")
    path = Path(settings.home) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    return _parse_keys(path.read_text(), str(path))


def fernet(settings: Settings | None = None) -> MultiFernet:
    from config.settings import get_settings

    keys = tuple((settings or get_settings()).fernet_keys())
    if keys not in _fernet_cache:
        _fernet_cache[keys] = MultiFernet([Fernet(key) for key in keys])
    return _fernet_cache[keys]


class DecryptionError(RuntimeError):
    """Stored credentials cannot be decrypted with any configured key."""


def encrypt_json(value: Mapping[str, Any]) -> str:
    return fernet().encrypt(json.dumps(dict(value), sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionError(
            "stored credentials cannot be decrypted with BOOKSYNC_SECRET_KEY (was the key rotated without "
            "keeping the old one after the new?)"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt under the newest key."""
    return fernet().rotate(token.encode()).decode()


#: Credential fields that name who connects rather than prove it; logs may show them.
IDENTIFYING_KEYS = frozenset({"username", "user", "login", "email", "client_id", "tenant_id", "realm_id"})


class Credentials(Mapping[str, Any]):
    """Secret values for one connection. Never shows them in repr, str or logs."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        self._values: dict[str, Any] = {**(values or {}), **more}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Credentials({', '.join(f'{k}=***' for k in sorted(self._values))})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Credentials):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return id(self)

    def reveal(self) -> dict[str, Any]:
        """The plain values, for encryption and for the provider that uses them."""
        return dict(self._values)

    def secret_values(self) -> list[str]:
        """The values the log redaction processor must hide: all but the ones that only identify."""
        return [
            value for key, value in self._values.items()
            if key not in IDENTIFYING_KEYS and isinstance(value, str) and len(value) >= 4
        ]


SCRUBBED = "***"


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (text, or lists/dicts of it) with every secret replaced by ``***``.

    For text that came from elsewhere (a provider's error message may echo the password it was sent)
    before it is stored, logged or returned. Longer secrets are replaced first, so a secret containing
    another is not half-revealed.
    """
    ordered = sorted({s for s in secrets if isinstance(s, str) and len(s) >= 3}, key=len, reverse=True)
    if not ordered:
        return value
    return _scrub(value, ordered)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, SCRUBBED)
        return value
    if isinstance(value, Mapping):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(item, secrets) for item in value]
    return value
