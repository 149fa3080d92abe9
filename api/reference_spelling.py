"""The reference API's spellings, answered as booksync's own: a client generated from the reference
works when pointed at booksync, with nothing mapped by hand.

The reference writes ``/accounting_synced_records`` where booksync writes ``/accounting-synced-records``,
and scopes calls with ``x-monite-entity-id`` where booksync uses ``X-Organization-Id``. Requests in the
reference's spelling are rewritten before routing; ``/openapi.json`` documents booksync's spelling only.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

#: The reference's first path segments that booksync spells with ``-``.
REFERENCE_SEGMENTS: frozenset[str] = frozenset(
    {"accounting_connections", "accounting_synced_records", "accounting_tax_rates", "ledger_accounts"}
)
REFERENCE_ENTITY_HEADER = b"x-monite-entity-id"
ORGANIZATION_HEADER = b"x-organization-id"


def booksync_path(path: str) -> str:
    """``/accounting_synced_records/…`` → ``/accounting-synced-records/…``; other paths unchanged."""
    head, slash, rest = path[1:].partition("/")
    if head not in REFERENCE_SEGMENTS:
        return path
    return f"/{head.replace('_', '-')}{slash}{rest}"


class ReferenceSpelling:
    """ASGI middleware: the reference's paths and entity header, as booksync's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = booksync_path(scope["path"])
            headers = scope["headers"]
            names = {name for name, _ in headers}
            if REFERENCE_ENTITY_HEADER in names and ORGANIZATION_HEADER not in names:
                headers = [*headers, *((ORGANIZATION_HEADER, value) for name, value in headers
                                       if name == REFERENCE_ENTITY_HEADER)]
            if path != scope["path"] or headers is not scope["headers"]:
                scope = {**scope, "path": path, "raw_path": path.encode(), "headers": headers}
        await self.app(scope, receive, send)
