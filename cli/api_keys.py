"""``api-keys create|list|revoke``: the keys the HTTP API accepts (stored hashed, shown once)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from cli.options import OrganizationOption
from cli.output import JsonOption, fail, note, print_json, print_rows

app = typer.Typer(help="Keys for the HTTP API: per organization, or platform-wide.", no_args_is_help=True)

COLUMNS = (
    ("id", "ID"), ("prefix", "PREFIX"), ("scope", "SCOPE"), ("name", "NAME"), ("created_at", "CREATED"),
    ("last_used_at", "LAST USED"), ("revoked_at", "REVOKED"),
)


def _row(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "prefix": info.prefix,
        "name": info.name,
        "organization_id": info.organization_id,
        "scope": "platform" if info.organization_id is None else str(info.organization_id),
        "created_at": info.created_at,
        "last_used_at": info.last_used_at,
        "revoked_at": info.revoked_at,
    }


KEY_PREFIX = "bks_"


def _key_reference(value: str) -> str | uuid.UUID:
    if value.startswith(KEY_PREFIX):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither a key id (UUID) nor a key prefix ({KEY_PREFIX}...)", param_hint="'KEY_ID'"
        ) from None


@app.command("create")
def create(
    organization: Annotated[
        uuid.UUID | None,
        typer.Option("--organization", metavar="ORGANIZATION_ID", help="The organization the key is scoped to."),
    ] = None,
    platform: Annotated[bool, typer.Option("--platform", help="A platform-wide key (every organization).")] = False,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it: this is the only time it is shown."""
    from api.keys import ApiKeyError, create_api_key
    from models import session_scope

    if (organization is None) == (not platform):
        raise typer.BadParameter(
            "give exactly one of --organization ORGANIZATION_ID or --platform",
            param_hint="'--organization' / '--platform'",
        )
    with session_scope() as session:
        try:
            created = create_api_key(session, organization, name)
        except ApiKeyError as exc:
            fail(str(exc))
    row = _row(created.info)
    if as_json:
        print_json({**row, "key": created.key})
        return
    typer.echo(created.key)
    note(f"API key {row['id']} ({row['scope']}{', ' + name if name else ''}); it is not shown again, store it now")


@app.command("list")
def list_keys(
    organization: OrganizationOption = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Keys, oldest first (never their secret)."""
    from api.keys import list_api_keys
    from models import session_scope

    with session_scope() as session:
        rows = [_row(info) for info in list_api_keys(session, organization, include_revoked=include_revoked)]
    print_rows(rows, COLUMNS, as_json=as_json, empty="no API keys")


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id, or its prefix (bks_...).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a key; requests with it are refused from now on. Revoking a revoked key changes nothing."""
    from api.keys import ApiKeyError, revoke_api_key
    from models import session_scope

    reference = _key_reference(key)
    with session_scope() as session:
        try:
            info = revoke_api_key(session, reference)
        except ApiKeyError as exc:
            fail(str(exc))
    row = _row(info)
    if as_json:
        print_json(row)
    else:
        typer.echo(f"API key {row['id']} ({row['prefix']}) revoked at {row['revoked_at']:%Y-%m-%d %H:%M:%S}")
