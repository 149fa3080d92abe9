"""Running the app: every error becomes one line on stderr and an exit status (1 failed, 2 bad usage)."""

from __future__ import annotations

import sys

import typer
from typer._click.exceptions import NoArgsIsHelpError

from cli.output import EXIT_FAILED, EXIT_USAGE


def _say(message: str) -> None:
    from config.logging import redact_text

    print(f"booksync: {redact_text(message)}", file=sys.stderr, flush=True)


def _usage_hint(exc: typer.TyperException) -> str:
    ctx = getattr(exc, "ctx", None)
    return f" (see: {ctx.command_path} --help)" if ctx is not None else ""


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _known_failure(exc: Exception) -> tuple[int, str] | None:
    """The exit status and one line for failures a person can act on; None for bugs (traceback)."""
    from kombu.exceptions import OperationalError as BrokerError
    from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

    from config.settings import SettingsError

    if isinstance(exc, SettingsError):
        return EXIT_USAGE, f"configuration error: {exc}"
    if isinstance(exc, DBAPIError):
        line = _first_line(exc)
        missing_table = "does not exist" in line or "no such table" in line
        if isinstance(exc, ProgrammingError | OperationalError) and missing_table:
            return EXIT_FAILED, f"the database has no booksync schema ({line}); run: booksync db upgrade"
        if isinstance(exc, OperationalError):
            return EXIT_FAILED, f"cannot reach the database: {line}"
        return EXIT_FAILED, f"database error: {line}"
    if isinstance(exc, BrokerError):
        return EXIT_FAILED, f"cannot reach the broker: {_first_line(exc)}"
    return None


def run(app: typer.Typer) -> int:
    """Run the CLI and return its exit status."""
    try:
        status = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        print(exc.format_message(), file=sys.stderr)
        return EXIT_USAGE
    except typer.TyperException as exc:
        _say(f"{exc.format_message().replace('Value error, ', '')}{_usage_hint(exc)}")
        return exc.exit_code
    except typer.Abort:
        _say("aborted")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        known = _known_failure(exc)
        if known is None:
            raise
        _say(known[1])
        return known[0]
    return status if isinstance(status, int) else 0
