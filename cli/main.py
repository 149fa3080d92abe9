"""``booksync``: the ops CLI. Exit status 0 on success, 1 when the operation failed, 2 on bad usage."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli import api_keys, connections, organizations, records, tax_rates, webhooks
from cli.errors import run
from cli.output import fail
from cli.serve import api
from cli.shell import shell

app = typer.Typer(
    name="booksync",
    help="Keep organizations' accounting systems in step with the platform. Settings come from BOOKSYNC_* variables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
documents_app = typer.Typer(help="The platform's documents (counterparts, bills, invoices, products, payment records).",
                            no_args_is_help=True)

app.add_typer(connections.app, name="connections")
app.command("sync")(connections.sync)
app.command("disconnect")(connections.disconnect)
app.command("records")(records.list_records)
app.command("push")(records.push)
app.add_typer(tax_rates.app, name="tax-rates")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(organizations.app, name="organizations")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(documents_app, name="documents")
app.add_typer(db_app, name="db")
app.command("api")(api)
app.command("shell")(shell)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Bring the database (BOOKSYNC_DATABASE_URL, or the embedded SQLite file) to the newest schema."""
    from sqlalchemy.engine import make_url

    from config import get_settings
    from models.migrate import current, upgrade

    url = get_settings().resolved_database_url
    upgrade(url, revision)
    typer.echo(f"database {make_url(url).render_as_string(hide_password=True)} is at revision {current(url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision."""
    from config import get_settings
    from models.migrate import current

    typer.echo(current(get_settings().resolved_database_url) or "empty (run: booksync db upgrade)")


@db_app.command("check")
def db_check() -> None:
    """Exit status 0 when the database is at the schema this booksync expects, 1 otherwise (deploys wait on it)."""
    from config import get_settings
    from models.migrate import current, head

    url = get_settings().resolved_database_url
    found, expected = current(url), head()
    if found != expected:
        fail(f"the database is at revision {found or 'none (empty)'}; this booksync needs {expected}: "
             "run booksync db upgrade")
    typer.echo(f"the database is at revision {found}")


@documents_app.command("import")
def documents_import(
    file: Annotated[
        typer.FileText, typer.Argument(metavar="FILE", help="JSON lines: one document per line; - reads stdin.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load counterparts, payables, receivables, products and payment records (JSON lines) through the API's
    validation.

    Each line is {"type": "counterpart"|"payable"|"receivable"|"product"|"payment_record", "organization_id",
    "id", <the PUT body's fields>}; a payment deleted on the platform is its line again with "status":
    "deleted". Each line is checked on its own: refused lines are reported with their line number and why, the
    rest is loaded (in file order: a payment after the document it settles). Exit status 1 when any line was
    refused.
    """
    from cli.documents import import_documents

    import_documents(file, as_json=as_json)


@app.command("demo")
def demo(
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the accounting system, worker and beat running at the end.")
    ] = False,
    platform: Annotated[
        str, typer.Option("--platform", help="Sync with: tryton (a real Tryton server), xero (the local Xero) or "
                                             "quickbooks_online (the local QuickBooks Online); the cloud ones are "
                                             "connected through their OAuth flow, the demo clicking Allow.")
    ] = "tryton",
) -> None:
    """Run a real sync end to end on the embedded default (a local accounting system, SQLite, filesystem broker)."""
    from cli.demo import run as run_demo

    status = run_demo(keep_running=keep_running, platform=platform)
    if isinstance(status, int) and status:
        raise typer.Exit(status)


def main() -> None:
    sys.exit(run(app))
