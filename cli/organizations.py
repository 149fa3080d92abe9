"""``organizations create|list``: organizations come from the platform, by the platform's ids."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.output import JsonOption, print_json, print_rows

if TYPE_CHECKING:
    from models import Organization

app = typer.Typer(help="The platform's organizations.", no_args_is_help=True)

COLUMNS = (("id", "ID"), ("name", "NAME"), ("created_at", "CREATED"))


def _row(organization: Organization) -> dict[str, Any]:
    return {
        "id": organization.id,
        "name": organization.name,
        "created_at": organization.created_at,
        "updated_at": organization.updated_at,
    }


@app.command("create")
def create(
    organization_id: Annotated[
        uuid.UUID, typer.Option("--id", metavar="ORGANIZATION_ID", help="The platform's id for it.")
    ],
    name: Annotated[str, typer.Option(help="Its name.")],
    as_json: JsonOption = False,
) -> None:
    """Create an organization, or rename it if it exists (the same call twice changes nothing)."""
    name = name.strip()
    if not name or len(name) > 255:
        raise typer.BadParameter("must be 1 to 255 characters", param_hint="'--name'")
    from models import Organization, session_scope

    with session_scope() as session:
        organization = session.get(Organization, organization_id)
        if organization is None:
            organization = Organization(id=organization_id, name=name)
            session.add(organization)
            outcome = "created"
        elif organization.name != name:
            organization.name = name
            outcome = "updated"
        else:
            outcome = "unchanged"
        session.flush()
        row = _row(organization)
    if as_json:
        print_json({**row, "outcome": outcome})
    else:
        typer.echo(f"organization {organization_id} ({name}) {outcome}")


@app.command("list")
def list_organizations(as_json: JsonOption = False) -> None:
    """Organizations by name."""
    from sqlalchemy import select

    from models import Organization, session_scope

    with session_scope() as session:
        rows = [_row(o) for o in session.scalars(select(Organization).order_by(Organization.name, Organization.id))]
    print_rows(rows, COLUMNS, as_json=as_json, empty="no organizations")
