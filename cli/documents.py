"""``documents import FILE``: JSON lines through the API's own intake validation (api/intake.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import typer

from cli.output import EXIT_FAILED, format_table, print_json

COMMIT_EVERY = 500


@dataclass
class ImportReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.outcomes["created"],
            "updated": self.outcomes["updated"],
            "unchanged": self.outcomes["unchanged"],
            "refused": self.refused,
        }


def _refuse(report: ImportReport, line: int, field_name: str, message: str) -> None:
    report.refused.append({"line": line, "field": field_name, "message": message})


def load_lines(lines: Iterable[str]) -> ImportReport:
    """Take each line on its own: a refused line is reported and the others are loaded."""
    from api.intake import IntakeConflictError, IntakeError, IntakeNotFoundError, import_record
    from models import session_scope

    report = ImportReport()
    with session_scope() as session:
        pending = 0
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                _refuse(report, number, "line", f"not JSON: {exc.msg} at column {exc.colno}")
                continue
            try:
                result = import_record(session, record)
            except IntakeError as exc:
                _refuse(report, number, exc.field, exc.message)
                continue
            except IntakeNotFoundError:
                _refuse(report, number, "id", "belongs to another organization")
                continue
            except IntakeConflictError as exc:
                _refuse(report, number, "id", str(exc))
                continue
            report.outcomes[result.outcome] += 1
            pending += 1
            if pending >= COMMIT_EVERY:
                session.commit()
                pending = 0
    return report


def import_documents(file: Iterable[str], *, as_json: bool) -> None:
    report = load_lines(file)
    if as_json:
        print_json(report.as_dict())
    else:
        outcome = report.as_dict()
        typer.echo(
            f"{outcome['created']} created, {outcome['updated']} updated, {outcome['unchanged']} unchanged, "
            f"{len(report.refused)} refused"
        )
        if report.refused:
            typer.echo(format_table(report.refused, (("line", "LINE"), ("field", "FIELD"), ("message", "WHY"))),
                       err=True)
    if report.refused:
        raise typer.Exit(EXIT_FAILED)
