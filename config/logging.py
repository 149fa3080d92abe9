"""structlog for every process: JSON lines in production, readable lines in a terminal.

Standard-library records (Celery's own, uvicorn's, alembic's) go through the same renderer. A
redaction processor removes secrets wherever they appear: values of secret-named keys, bearer and
session tokens, URL passwords, and any value registered with ``register_secret``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
SECRET_KEY_PATTERN = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|authorization|credential|session|refresh"
    r"|client_secret|cookie)",
    re.IGNORECASE,
)
SECRET_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|session|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {REDACTED}"),
    (re.compile(r"(://[^:/@\s]*:)[^@\s]+(@)"), rf"\1{REDACTED}\2"),
    (
        re.compile(
            r"(?i)((?:password|passwd|secret|token|api_key|apikey|private_key|refresh_token|access_token)"
            r"[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',}&]+"
        ),
        rf"\1{REDACTED}",
    ),
)

_known_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(*values: str | None) -> None:
    """Remember values that must never be printed (a connection's password, its tokens)."""
    with _lock:
        _known_secrets.update(v for v in values if isinstance(v, str) and len(v) >= 4)


def redact_text(text: str) -> str:
    for pattern, replacement in SECRET_TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    if _known_secrets:
        with _lock:
            secrets = sorted(_known_secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(key, str) and SECRET_KEY_PATTERN.search(key) and value not in (None, "", [], {}):
        if not isinstance(value, bool | int | float):
            return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, MutableMapping):
        return {k: _redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v) for v in value]
    return value


def redact_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]


def _use_json(log_format: str, stream: Any) -> bool:
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    return not (hasattr(stream, "isatty") and stream.isatty())


_configured = False


def configure_logging(
    log_format: str | None = None, level: str | None = None, *, force: bool = False, cache: bool = True
) -> None:
    """Set up structlog and route the standard library's logging through it.

    ``cache`` binds each logger to this configuration on its first use (fast; a process configures
    once). Tests pass ``cache=False``: a cached logger would ignore their later ``capture_logs``.
    """
    global _configured
    if _configured and not force:
        return
    from config.settings import get_settings

    settings = get_settings()
    log_format = log_format or settings.log_format
    level = level or settings.log_level
    stream = sys.stderr
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if _use_json(log_format, stream)
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    _configured = True


def reset_logging() -> None:
    """Back to structlog's defaults (tests, after configuring it)."""
    global _configured
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []
    _configured = False


def bind(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**values)


def secrets_in(text: str, secrets: Iterable[str]) -> list[str]:
    """Which of ``secrets`` appear in ``text`` (for tests and audits)."""
    return [s for s in secrets if s and s in text]
