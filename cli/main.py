"""``booksync``: the ops CLI. Exit status 0 on success, 1 when the operation failed, 2 on bad usage."""

from __future__ import annotations

import sys

import typer

from config.settings import SettingsError

app = typer.Typer(
    name="booksync",
    help="Keep organizations' accounting systems in step with the platform. Settings come from BOOKSYNC_* variables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Bring the database (BOOKSYNC_DATABASE_URL, or the embedded SQLite file) to the newest schema."""
    from config import get_settings
    from models.migrate import current, upgrade
    from sqlalchemy.engine import make_url

    url = get_settings().resolved_database_url
    upgrade(url, revision)
    typer.echo(f"database {make_url(url).render_as_string(hide_password=True)} is at revision {current(url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    from config import get_settings
    from models.migrate import current

    typer.echo(current(get_settings().resolved_database_url) or "empty (run: booksync db upgrade)")


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        print(f"booksync: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
