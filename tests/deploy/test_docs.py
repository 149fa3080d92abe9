"""The operations pages name only metrics and commands that exist."""

from __future__ import annotations

import re

from tests.support.processes import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def test_every_metric_the_docs_name_is_exported() -> None:
    source = (PROJECT_ROOT / "worker" / "metrics.py").read_text()
    named = {m for page in DOCS.glob("*.md") for m in re.findall(r"\bbooksync_[a-z_]+[a-z]", page.read_text())}
    assert named
    for metric in named:
        base = re.sub(r"_(total|bucket|sum|count)$", "", metric)
        assert f'"{base}"' in source, f"{metric} is in docs/ but worker/metrics.py does not export it"


def test_every_booksync_command_the_docs_name_exists() -> None:
    from typer.main import get_command

    from cli.main import app

    root = get_command(app)
    text = "\n".join(page.read_text() for page in DOCS.glob("*.md"))
    for words in re.findall(r"`booksync ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", text):
        first, *rest = words.split()
        command = root.commands.get(first)  # type: ignore[attr-defined]
        assert command is not None, f"docs name booksync {first}"
        if rest and hasattr(command, "commands"):
            assert rest[0] in command.commands, f"docs name booksync {words}"
