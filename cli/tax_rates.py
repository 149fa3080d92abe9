"""``tax-rates list``: the tax rates pulled from accounting systems and the organizations' own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.options import OrganizationOption
from cli.output import JsonOption, print_rows

if TYPE_CHECKING:
    from models import AccountingTaxRate

app = typer.Typer(help="Tax rates: external (pulled) and internal (the organization's own).", no_args_is_help=True)

COLUMNS = (
    ("id", "ID"), ("organization_id", "ORGANIZATION"), ("name", "NAME"), ("code", "CODE"), ("rate", "RATE"),
    ("source", "SOURCE"), ("platform_id", "PLATFORM ID"), ("status", "STATUS"),
)


def percent(minor_units: int) -> str:
    """2000 (hundredths of a percent) -> "20.00%"."""
    return f"{minor_units / 100:.2f}%"


def _row(rate: AccountingTaxRate) -> dict[str, Any]:
    return {
        "id": rate.id,
        "organization_id": rate.organization_id,
        "connection_id": rate.connection_id,
        "name": rate.name,
        "code": rate.code,
        "effective_tax_rate": rate.effective_tax_rate,
        "components": rate.components,
        "is_external": rate.is_external,
        "platform_id": rate.platform_id,
        "status": rate.status,
        "created_at": rate.created_at,
        "updated_at": rate.updated_at,
    }


@app.command("list")
def list_tax_rates(
    organization: OrganizationOption = None,
    external: Annotated[
        bool | None, typer.Option("--external/--internal", help="Only pulled ones, or only the organization's own.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Tax rates by organization and name. RATE is the effective rate; JSON gives it in hundredths of a percent."""
    from sqlalchemy import select

    from models import AccountingTaxRate, session_scope

    query = select(AccountingTaxRate).order_by(
        AccountingTaxRate.organization_id, AccountingTaxRate.name, AccountingTaxRate.id
    )
    if organization is not None:
        query = query.where(AccountingTaxRate.organization_id == organization)
    if external is not None:
        query = query.where(AccountingTaxRate.is_external.is_(external))
    with session_scope() as session:
        rows = [_row(rate) for rate in session.scalars(query)]
    if not as_json:
        for row in rows:
            row["rate"] = percent(row["effective_tax_rate"])
            row["source"] = "external" if row["is_external"] else "internal"
    print_rows(rows, COLUMNS, as_json=as_json, empty="no tax rates")
