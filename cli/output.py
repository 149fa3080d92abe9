"""What commands print: JSON for scripts (``--json``), aligned tables and key/value blocks for people."""

from __future__ import annotations

import enum
import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, NoReturn

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]

EXIT_FAILED = 1
EXIT_USAGE = 2


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot print {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_default, indent=2, sort_keys=False)


def print_json(value: Any) -> None:
    typer.echo(to_json(value))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    return " ".join(str(value).split())


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``columns`` are (key, header) pairs; each column is as wide as its widest cell."""
    header = [title for _, title in columns]
    body = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
             for line in [header, *body]]
    return "\n".join(lines)


def print_rows(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], *, as_json: bool, empty: str
) -> None:
    if as_json:
        print_json(list(rows))
    elif not rows:
        typer.echo(empty, err=True)
    else:
        typer.echo(format_table(rows, columns))


def format_fields(fields: Mapping[str, Any]) -> str:
    width = max((len(key) for key in fields), default=0)
    return "\n".join(f"{(key + ':').ljust(width + 1)}  {cell(value)}" for key, value in fields.items())


def print_object(value: Mapping[str, Any], *, as_json: bool, fields: Mapping[str, Any] | None = None) -> None:
    """``value`` as JSON, or ``fields`` (default: ``value``) as aligned ``key: value`` lines."""
    if as_json:
        print_json(value)
    else:
        typer.echo(format_fields(fields if fields is not None else value))


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """One line on stderr, then the exit status: 1 when the operation failed, 2 on bad usage."""
    typer.echo(f"booksync: {message}", err=True)
    raise typer.Exit(code)


def note(message: str) -> None:
    """A line for the person at the terminal that scripts reading stdout do not see."""
    print(message, file=sys.stderr, flush=True)
